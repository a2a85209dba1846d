"""The example's views: a form with an upload, a FileResponse download, a streaming
response, server-sent events from an async view, and a slow sync view."""

import asyncio
import hashlib
import json
import threading
import time

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .forms import NoteForm
from .models import Note


def index(request):
    return render(request, "notes/index.html", {"notes": Note.objects.all()[:50]})


def new_note(request):
    if request.method == "POST":
        form = NoteForm(request.POST, request.FILES)
        if form.is_valid():
            note = form.save(commit=False)
            upload = request.FILES.get("attachment")
            if upload is not None:
                digest = hashlib.sha256()
                for chunk in upload.chunks():
                    digest.update(chunk)
                note.sha256, note.size = digest.hexdigest(), upload.size
            note.save()
            return redirect("notes:detail", pk=note.pk)
    else:
        form = NoteForm()
    return render(request, "notes/new.html", {"form": form})


def detail(request, pk):
    return render(request, "notes/detail.html", {"note": get_object_or_404(Note, pk=pk)})


def download(request, pk):
    """FileResponse: under WSGI it goes out through wsgi.file_wrapper (zero-copy)."""
    note = get_object_or_404(Note, pk=pk)
    if not note.attachment:
        return HttpResponse("this note has no attachment", status=404)
    return FileResponse(note.attachment.open("rb"), as_attachment=True)


@csrf_exempt
@require_POST
def hash_body(request):
    """Reads the raw body piece by piece (chunked or not) and answers its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    while chunk := request.read(64 * 1024):
        size += len(chunk)
        if size > settings.MAX_UPLOAD_BYTES:
            return HttpResponse("body too large", status=413)
        digest.update(chunk)
    return JsonResponse({"size": size, "sha256": digest.hexdigest()})


def _count(request, limit=1000):
    try:
        return max(0, min(int(request.GET.get("n", "10")), limit))
    except ValueError:
        return None


def stream(request):
    """A streaming response; each line is sent as it is produced."""
    n = _count(request)
    if n is None:
        return HttpResponseBadRequest("n must be a number")
    delay = 0.05
    if isinstance(request, ASGIRequest):  # Django wants async iterators under ASGI

        async def lines():
            for i in range(n):
                yield f"line {i}\n"
                await asyncio.sleep(delay)

    else:

        def lines():
            for i in range(n):
                yield f"line {i}\n"
                time.sleep(delay)

    return StreamingHttpResponse(lines(), content_type="text/plain")


async def events(request):
    """Server-sent events from an async view: a tick per interval, `n` of them.

    Under ASGI the view and its stream run on the event loop; under WSGI (and so in
    mixed mode) Django needs a sync iterator, which holds one thread while it runs."""
    n = _count(request)
    if n is None:
        return HttpResponseBadRequest("n must be a number")
    interval = 0.1

    def event(i):
        return f"id: {i}\nevent: tick\ndata: {json.dumps({'tick': i})}\n\n"

    if isinstance(request, ASGIRequest):

        async def ticks():
            for i in range(n):
                yield event(i)
                await asyncio.sleep(interval)

    else:

        def ticks():
            for i in range(n):
                yield event(i)
                time.sleep(interval)

    response = StreamingHttpResponse(ticks(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response


def events_page(request):
    return render(request, "notes/events.html")


_barriers: dict[int, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def rendezvous(request):
    """A slow sync view that only succeeds when `parties` requests run at the same time:
    it shows whether the server runs sync views in parallel (WSGI threads) or one by one
    (Django under ASGI runs sync views in a single thread)."""
    try:
        parties = min(int(request.GET.get("parties", "2")), 200)
    except ValueError:
        return HttpResponseBadRequest("parties must be a number")
    with _barriers_lock:
        barrier = _barriers.setdefault(parties, threading.Barrier(parties))
    try:
        barrier.wait(timeout=float(request.GET.get("timeout", "10")))
    except threading.BrokenBarrierError:
        with _barriers_lock:
            _barriers.pop(parties, None)
        return HttpResponse("the other requests never came", status=503)
    return HttpResponse(f"all {parties} met on thread {threading.get_ident()}\n")


def chat_page(request):
    return render(request, "notes/chat.html")
