"""The web app: an upload page and a JSON prediction API around one model loaded per process.

Uploads stay in memory (never saved, never under the client's file name) and every failure is
answered as JSON with a one-line reason, so neither the page nor an API client ever sees a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import threading
import time
from pathlib import Path
from typing import IO, Any

from flask import Flask, Request, Response, jsonify, render_template, request
from waitress.server import create_server
from werkzeug.exceptions import HTTPException

from emotion_pipeline.data.faces import warm_up
from emotion_pipeline.data.images import Busy, ImageError
from emotion_pipeline.model.backends import NOT_EXPLAINABLE
from emotion_pipeline.serving.confidence import probability
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.video_api import MAX_VIDEO_BYTES, register_video, video_page

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Waitress keeps request bodies up to this size in memory (its default spools bodies over 512 KB to a
# temporary file) and refuses larger ones before reading them; the 1 MiB over the upload limit is room
# for the multipart envelope, and between the two limits Flask answers with its JSON 413.
MAX_REQUEST_BYTES = max(MAX_UPLOAD_BYTES, MAX_VIDEO_BYTES) + 2**20
# One request's decode stops at this deadline, answered 429: the largest image the loader admits
# decodes in about 2 s on a free core, so only an overloaded server gets there, and no request holds a
# thread, or its memory, for longer. (Python cannot interrupt a thread: the loader checks the deadline
# between the steps and input blocks of its decode, see `shedding.DeadlineReader`.)
DECODE_SECONDS = 8
RETRY_AFTER_SECONDS = 5  # what a busy answer asks the client to wait: about one large decode
UPLOAD_FIELD = "file"
# Buffers above this go back to the OS when freed: a decoded photo over 2.8 megapixels, a scan. At 1 MB,
# MTCNN's and the model's tensors were mapped and unmapped at every request: 30 ms of a 1-MP photo's
# 120 went in page faults (bench/export_speed.py --photo); the load benchmark's server keeps about
# 100 MB more after its 300 uploads.
MMAP_THRESHOLD = 8 * 2**20


class InMemoryRequest(Request):
    """A request whose file uploads are buffered in memory: Werkzeug spools those over 500 KB to disk."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def _busy(message: str) -> tuple[Response, int]:
    """429, not 503: the server is sound, this one costly request is refused for now, to retry."""
    response, status = _error(429, message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


def create_app(model: str | Path | Classifier) -> Flask:
    """The Flask app; the model is loaded here, once per process, unless a `Classifier` is given."""
    classifier = model if isinstance(model, Classifier) else Classifier(model)
    if classifier.faces is not None:
        warm_up()  # the detector's first call is the slowest: not a user's request
    # Decoding runs in parallel across waitress threads; the model call itself is serialised.
    model_lock = threading.Lock()
    gradcam = None
    if classifier.model is not None:  # an export serves without TensorFlow, and without Grad-CAM
        from emotion_pipeline.serving.explain import GradCam, class_index, heatmap_answer

        gradcam = GradCam(classifier.model)

    app = Flask(__name__)
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    app.json.sort_keys = False  # keep probabilities in the model's class order

    @app.get("/")
    def index() -> str:
        return render_template(
            "index.html",
            classes=classifier.classes,
            max_mb=MAX_UPLOAD_BYTES // 2**20,
            **video_page(classifier),
        )

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", classes=classifier.classes)

    @app.post("/api/predict")
    def predict() -> Response | tuple[Response, int]:
        upload = request.files.get(UPLOAD_FIELD)
        if upload is None:
            return _error(400, f"no file uploaded: send the image as multipart form field '{UPLOAD_FIELD}'")
        explain = request.args.get("explain", "0") not in ("0", "")  # `?explain=1[&class=NAME]`
        if explain and gradcam is None:  # before `class_index`, which only a Keras model imports
            return _error(400, NOT_EXPLAINABLE)
        try:
            target = class_index(classifier.classes, request.args.get("class")) if explain else None
        except ValueError as error:
            return _error(400, str(error))
        try:  # a form field or a query parameter, as a client finds easier
            min_confidence = probability(request.values.get("min_confidence", "0"))
        except ValueError as error:
            return _error(400, f"min_confidence {error}")
        try:
            framed = classifier.frame(upload.read(), time.monotonic() + DECODE_SECONDS)
        except Busy as error:
            return _busy(str(error))
        except ImageError as error:
            return _error(400, str(error))
        with model_lock:  # faces were found in parallel; the model calls are serialised
            probabilities, result = classifier.answer_rows(
                framed.inputs, gradcam=gradcam if explain else None, target=target
            )
        answer = classifier.as_json(classifier.answer("upload", framed, probabilities), min_confidence)
        if result is not None:  # the largest face's map over the square it saw, or the whole image's
            square = list(framed.squares[0]) if framed.squares else None
            answer["explain"] = {
                **heatmap_answer(result, classifier.classes, classifier.image_size),
                "box": square,
                "turn": framed.turns[0] if framed.turns else 0.0,  # degrees clockwise: `faces.align`
            }
        return jsonify(answer)

    register_video(app, classifier, model_lock, _error, _busy, UPLOAD_FIELD)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        if status == 413:
            limit = request.max_content_length or MAX_UPLOAD_BYTES  # the video endpoint's is its own
            return _error(413, f"upload too large: the limit is {limit // 2**20} MB")
        return _error(status, f"{error.name.lower()}: {request.method} {request.path}")

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal error")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # data: images only: the heatmaps the API returns inline; scripts and the rest stay 'self'.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
        )
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # links out never carry our URLs
        if response.is_json:  # API answers: a prediction describes the user's image; no cache keeps it
            response.headers["Cache-Control"] = "no-store"
        return response

    return app


def return_large_buffers_to_the_os() -> None:
    """Keep the server's memory flat: glibc raises its mmap threshold after the first large free, so
    later decoded-image buffers land in per-thread heaps and stay there; a fixed threshold (glibc's
    M_MMAP_THRESHOLD, as the MALLOC_MMAP_THRESHOLD_ variable sets it) hands each back when freed.
    MMAP_THRESHOLD says which buffers count as large."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its allocator has its own policy
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-3, MMAP_THRESHOLD)


def make_server(app: Flask, host: str, port: int, threads: int = 4) -> Any:
    """A waitress server for the app (port 0 picks a free port); call `.run()` to serve."""
    return_large_buffers_to_the_os()
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        # Each open connection may hold a whole request body in memory (below): 32 of them bound that
        # to ~1 GB (videos' 33 MB), where waitress's 100 allowed 3.3 GB. Further clients wait in the
        # listen backlog.
        connection_limit=32,
        # A connection that sends nothing for 30 s (a slow-loris client, an idle keep-alive) is closed,
        # not kept for waitress's 120 s; uploads in progress keep sending, so they are not cut.
        channel_timeout=30,
        cleanup_interval=10,  # how often idle connections are looked for: the timeout holds within 10 s
        max_request_header_size=64 * 1024,  # headers this app needs are a few hundred bytes, not 256 KB
        max_request_body_size=MAX_REQUEST_BYTES,
        inbuf_overflow=MAX_REQUEST_BYTES,  # the body stays in memory: uploads never touch the disk
    )
