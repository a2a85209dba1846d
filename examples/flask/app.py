"""The Flask example: a JSON API, a form with a file upload, a streaming response,
send_file downloads and error handlers. Serve it with `duoserve app:app`."""

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from flask import (
    Flask,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("FLASK_MAX_UPLOAD_BYTES", 64 * 1024 * 1024))
UPLOAD_DIR = Path(os.environ.get("FLASK_UPLOAD_DIR", Path(tempfile.gettempdir()) / "flask-uploads"))
UPLOAD_DIR.mkdir(parents=True, exist_ok=True)

# -- JSON API -------------------------------------------------------------------------------

_items: dict[int, dict] = {}
_items_lock = threading.Lock()


@app.get("/api/items")
def list_items():
    with _items_lock:
        return jsonify(sorted(_items.values(), key=lambda item: item["id"]))


@app.post("/api/items")
def create_item():
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        abort(400, description='send a JSON object with a "name" string')
    with _items_lock:
        item = {"id": len(_items) + 1, "name": data["name"][:200]}
        _items[item["id"]] = item
    return jsonify(item), 201


@app.get("/api/items/<int:item_id>")
def get_item(item_id):
    with _items_lock:
        item = _items.get(item_id)
    if item is None:
        abort(404, description=f"no item {item_id}")
    return jsonify(item)


@app.get("/api/boom")
def boom():
    raise RuntimeError("an unexpected error, to show the 500 handler")


# -- form with an upload, downloads ------------------------------------------------------------


@app.route("/upload", methods=["GET", "POST"])
def upload():
    if request.method == "GET":
        return render_template("upload.html", error=None)
    file = request.files.get("file")
    name = secure_filename(file.filename or "") if file else ""
    if not name:
        return render_template("upload.html", error="choose a file to upload"), 400
    path = UPLOAD_DIR / name
    file.save(path)
    return redirect(url_for("uploaded", name=name, title=request.form.get("title", "")))


@app.get("/uploaded/<name>")
def uploaded(name):
    path = _upload_path(name)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return render_template(
        "uploaded.html",
        name=name,
        title=request.args.get("title", ""),
        size=path.stat().st_size,
        sha256=digest.hexdigest(),
    )


@app.get("/files/<name>")
def download(name):
    """send_file hands the open file to the server (wsgi.file_wrapper: zero-copy)."""
    return send_file(_upload_path(name), as_attachment=True)


def _upload_path(name):
    path = UPLOAD_DIR / secure_filename(name)
    if not path.is_file():
        abort(404, description=f"no file {name!r}")
    return path


@app.post("/hash")
def hash_body():
    """Reads the raw body as a stream (chunked or not); answers its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    while chunk := request.stream.read(64 * 1024):
        size += len(chunk)
        digest.update(chunk)
    return jsonify(size=size, sha256=digest.hexdigest())


# -- streaming and slow views ------------------------------------------------------------------


@app.get("/stream")
def stream():
    n = request.args.get("n", 10, type=int)

    @stream_with_context
    def lines():
        for i in range(max(0, min(n, 1000))):
            yield f"line {i} for {request.remote_addr}\n"
            time.sleep(0.05)

    return app.response_class(lines(), mimetype="text/plain")


_barriers: dict[int, threading.Barrier] = {}
_barriers_lock = threading.Lock()


@app.get("/rendezvous")
def rendezvous():
    """Succeeds only when `parties` requests run at the same time (on parallel threads)."""
    parties = max(1, min(request.args.get("parties", 2, type=int), 200))
    with _barriers_lock:
        barrier = _barriers.setdefault(parties, threading.Barrier(parties))
    try:
        barrier.wait(timeout=request.args.get("timeout", 10, type=float))
    except threading.BrokenBarrierError:
        with _barriers_lock:
            _barriers.pop(parties, None)
        abort(503, description="the other requests never came")
    return f"all {parties} met on thread {threading.get_ident()}\n"


@app.get("/")
def index():
    return redirect(url_for("upload"))


# -- error handlers ----------------------------------------------------------------------------


@app.errorhandler(HTTPException)
def http_error(error):
    """JSON for the API, a short page elsewhere."""
    if request.path.startswith("/api/"):
        return jsonify(error=error.name, detail=error.description), error.code
    return render_template("error.html", error=error), error.code


@app.errorhandler(Exception)
def unexpected_error(error):
    app.logger.exception("unhandled error on %s", request.path)
    if request.path.startswith("/api/"):
        return jsonify(error="Internal Server Error"), 500
    return "Internal Server Error\n", 500
