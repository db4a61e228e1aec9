"use strict";

// Video and camera. A picked video goes to /api/video and its timeline picture and per-face shares
// are shown. The camera sends a frame to /api/predict every INTERVAL_MS (one request in flight at a
// time, so a slow server gets fewer frames, never a queue), draws each face's box and label over the
// live video, and charts the largest face's probabilities over the last CHART_SECONDS.
document.addEventListener("DOMContentLoaded", () => {
  const INTERVAL_MS = 250; // 4 frames a second at most
  const SEND_WIDTH = 640; // frames are scaled to this width before sending: the detector's looks need no more
  const CHART_SECONDS = 20;

  const videoInput = document.getElementById("video-file");
  const videoStatus = document.getElementById("video-status");
  const timeline = document.getElementById("timeline");
  const videoFaces = document.getElementById("video-faces");

  const percent = (p) => `${(100 * p).toFixed(0)}%`;

  async function postFile(url, blob, name) {
    const body = new FormData();
    body.append("file", blob, name);
    const response = await fetch(url, { method: "POST", body });
    let answer;
    try {
      answer = await response.json();
    } catch {
      throw new Error(`server answered ${response.status} ${response.statusText}`);
    }
    if (!response.ok) throw new Error(answer.error || `server answered ${response.status}`);
    return answer;
  }

  videoInput.addEventListener("change", async () => {
    const file = videoInput.files[0];
    if (!file) return;
    timeline.hidden = true;
    videoFaces.replaceChildren();
    videoStatus.textContent = `Processing ${file.name}\u2026`;
    let answer;
    try {
      answer = await postFile("/api/video?timeline=1", file, file.name);
    } catch (err) {
      videoStatus.textContent = `Video failed: ${err.message}`;
      return;
    }
    const { frames, faces } = answer.summary;
    videoStatus.textContent = `${file.name}: ${frames} frames sampled, ${faces.length} face${faces.length === 1 ? "" : "s"}.`
      + (answer.note ? ` ${answer.note}.` : "");
    timeline.src = answer.timeline;
    timeline.hidden = false;
    for (const face of faces) {
      const item = document.createElement("li");
      const shares = Object.entries(face.share).sort((a, b) => b[1] - a[1]).filter(([, p]) => p > 0);
      item.textContent = `Face ${face.face} (${face.first}\u2013${face.last} s): `
        + shares.map(([name, p]) => `${name} ${percent(p)}`).join(", ");
      videoFaces.append(item);
    }
  });

  // The camera.
  const start = document.getElementById("camera-start");
  const stop = document.getElementById("camera-stop");
  const frame = document.getElementById("camera-frame");
  const camera = document.getElementById("camera");
  const cameraBoxes = document.getElementById("camera-boxes");
  const chart = document.getElementById("camera-chart");
  const legend = document.getElementById("camera-legend");
  const cameraStatus = document.getElementById("camera-status");
  const colours = {};
  for (const item of legend.querySelectorAll("li")) {
    colours[item.dataset.class] = item.dataset.colour;
    item.style.setProperty("--colour", item.dataset.colour);
  }
  const grab = document.createElement("canvas");
  let stream = null;
  let history = []; // {t, probabilities} of the largest face, oldest first
  let answered = 0;
  let since = 0;

  function drawBoxes(answer, width, height) {
    const faces = answer.faces || (answer.label ? [{ box: [0, 0, width, height], label: answer.label }] : []);
    drawFaceBoxes(cameraBoxes, faces, width, height);
  }

  function drawChart(now) {
    history = history.filter((point) => now - point.t <= CHART_SECONDS * 1000);
    const context = chart.getContext("2d");
    context.clearRect(0, 0, chart.width, chart.height);
    for (const [name, colour] of Object.entries(colours)) {
      context.strokeStyle = colour;
      context.lineWidth = 2;
      context.beginPath();
      history.forEach((point, index) => {
        const x = chart.width * (1 - (now - point.t) / (CHART_SECONDS * 1000));
        const y = chart.height * (1 - point.probabilities[name]);
        if (index === 0) context.moveTo(x, y);
        else context.lineTo(x, y);
      });
      context.stroke();
    }
  }

  async function tick() {
    if (!stream) return;
    const began = performance.now();
    const width = Math.min(SEND_WIDTH, camera.videoWidth);
    const height = Math.round((camera.videoHeight * width) / camera.videoWidth);
    if (width && height) {
      grab.width = width;
      grab.height = height;
      grab.getContext("2d").drawImage(camera, 0, 0, width, height);
      const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
      try {
        const answer = await postFile("/api/predict", blob, "camera.jpg");
        if (!stream) return;
        answered += 1;
        drawBoxes(answer, width, height);
        const largest = answer.faces ? answer.faces[0] : answer;
        if (largest && largest.probabilities) history.push({ t: performance.now(), probabilities: largest.probabilities });
        drawChart(performance.now());
        const rate = (1000 * answered) / (performance.now() - since);
        cameraStatus.textContent = `${answered} frames answered, ${rate.toFixed(1)} per second.`;
        cameraStatus.dataset.answered = String(answered);
      } catch (err) {
        cameraStatus.textContent = `Frame failed: ${err.message}`;
      }
    }
    setTimeout(tick, Math.max(0, INTERVAL_MS - (performance.now() - began)));
  }

  start.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (err) {
      cameraStatus.textContent = `No camera: ${err.message}`;
      return;
    }
    camera.srcObject = stream;
    await camera.play();
    [frame.hidden, chart.hidden, legend.hidden] = [false, false, false];
    [start.disabled, stop.disabled] = [true, false];
    [answered, since, history] = [0, performance.now(), []];
    tick();
  });

  stop.addEventListener("click", () => {
    for (const track of stream ? stream.getTracks() : []) track.stop();
    stream = null;
    camera.srcObject = null;
    cameraBoxes.replaceChildren();
    [frame.hidden, start.disabled, stop.disabled] = [true, false, true];
  });
});
