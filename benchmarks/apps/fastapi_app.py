"""A FastAPI app as its tutorial writes one: an async path operation returning a dict."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, world!"}
