"""`POST /api/video`: a video upload's faces over time, as rows (time, face, box, label,
probabilities), the per-face summary and, with `?timeline=1`, the timeline picture as a data URL.

The upload is decoded from the request's own buffer in memory: nothing is written to disk. A video
holds a server thread for seconds, so limits bound it: its size (MAX_VIDEO_BYTES), its length
(MAX_VIDEO_SECONDS, from the header and again from the frames' times), the work (VIDEO_SECONDS, then
429), and one video at a time (another gets 429 at once). The model is taken per batch of faces, so
still images are answered between a video's batches.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request

from emotion_pipeline.data.images import Busy
from emotion_pipeline.serving.clips import video_rows, watch
from emotion_pipeline.serving.overlays import data_url
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.serving.timeline import colours, draw_timeline, summary
from emotion_pipeline.serving.video import DEFAULT_FPS, TooLong, VideoError

MAX_VIDEO_BYTES = 32 * 2**20  # a minute of 720p from a webcam or screen recorder; a phone's 1080p: ~20 s
MAX_VIDEO_SECONDS = 60.0
MAX_FPS = 10.0  # frames sampled per second an upload may ask for (`?fps=`)
VIDEO_SECONDS = 120  # a minute of video at 5 fps takes ~40 s on two free cores; twice that: overloaded


def video_page(classifier: Classifier) -> dict[str, Any]:
    """What the page's video and camera section shows: the limits, and the timeline's class colours."""
    return {
        "video_mb": MAX_VIDEO_BYTES // 2**20,
        "video_seconds": round(MAX_VIDEO_SECONDS),
        "colours": colours(classifier.classes),
    }


def register_video(
    app: Flask,
    classifier: Classifier,
    model_lock: threading.Lock,
    error: Any,
    busy: Any,
    field: str,
) -> None:
    """Add the endpoint to `app`, answering errors with the app's own `error(status, message)` and
    `busy(message)` (429 with Retry-After)."""
    turn = threading.Lock()  # one video at a time: each can hold a thread for a minute

    @app.post("/api/video")
    def video() -> Response | tuple[Response, int]:
        request.max_content_length = MAX_VIDEO_BYTES
        upload = request.files.get(field)
        if upload is None:
            return error(400, f"no file uploaded: send the video as multipart form field '{field}'")
        try:
            fps = float(request.args.get("fps", DEFAULT_FPS))
        except ValueError:
            fps = -1.0
        if not 0 < fps <= MAX_FPS:
            return error(400, f"fps must be above 0 and at most {MAX_FPS:g}")
        if not turn.acquire(blocking=False):
            return busy("another video is being processed; try again in a minute")
        try:
            deadline = time.monotonic() + VIDEO_SECONDS
            watched = watch(classifier, upload.stream, fps, MAX_VIDEO_SECONDS, deadline, model_lock)
        except Busy as reason:
            return busy(str(reason))
        except TooLong as reason:
            return error(413, str(reason))
        except VideoError as reason:
            return error(400, str(reason))
        finally:
            turn.release()
        rows = [
            {k: v for k, v in row.items() if k != "path"}
            for row in video_rows(classifier.classes, "", watched)
        ]
        answer: dict[str, Any] = {"rows": rows, "summary": summary(classifier.classes, watched)}
        if not watched.faces:
            answer["note"] = f"no face found in any of the {watched.frames} sampled frames"
        if request.args.get("timeline", "0") not in ("0", ""):
            buffer = io.BytesIO()
            draw_timeline(classifier.classes, watched, buffer)
            answer["timeline"] = data_url(buffer.getvalue())
        return jsonify(answer)
