"use strict";

// Send the picked or dropped image to the API and show the answer: the label and one bar per class,
// a box with its label over each face in the preview (from a model that looks for faces), and, with
// the toggle on, the Grad-CAM heatmap laid over what the model saw; "uncertain" below the threshold asked.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  const dropzone = document.getElementById("dropzone");
  const preview = document.getElementById("preview");
  const boxes = document.getElementById("boxes");
  const dropText = document.getElementById("drop-text");
  const status = document.getElementById("status");
  const label = document.getElementById("label");
  const errorBox = document.getElementById("error");
  const bars = Array.from(document.querySelectorAll(".bar"));
  const explainToggle = document.getElementById("explain");
  const minConfidence = document.getElementById("min-confidence"); // in %; the API takes 0 to 1
  const heatmap = document.getElementById("heatmap");
  const explained = document.getElementById("explained");
  let previewUrl = null;
  let current = null; // the file last sent
  let sent = 0; // requests sent: only the latest one's answer is shown
  let explanation = null; // its heatmap, once the API has sent one

  // The whole preview, or the face's square (in the image's pixels), in % of the image.
  async function placeHeatmap(box, turn) {
    let place = [0, 0, 100, 100];
    if (box) {
      try {
        await preview.decode(); // its natural size is known once decoded
      } catch {
        return;
      }
      const [x0, y0, x1, y1] = box;
      const [width, height] = [preview.naturalWidth, preview.naturalHeight];
      place = [(100 * x0) / width, (100 * y0) / height, (100 * (x1 - x0)) / width, (100 * (y1 - y0)) / height];
    }
    [heatmap.style.left, heatmap.style.top, heatmap.style.width, heatmap.style.height] = place.map((v) => `${v}%`);
    heatmap.style.transform = turn ? `rotate(${turn}deg)` : ""; // a face the model saw turned upright
  }

  function showHeatmap() {
    const on = explainToggle.checked && explanation !== null;
    if (on) {
      heatmap.src = explanation.image;
      placeHeatmap(explanation.box, explanation.turn);
      explained.textContent = `Coloured where the image gave the evidence for \u201c${explanation.class}\u201d (red: the most).`;
    }
    heatmap.hidden = !on;
    explained.hidden = !on;
  }

  // A file the browser cannot display (not an image) leaves the drop hint instead of a broken icon.
  preview.addEventListener("error", () => {
    preview.hidden = true;
    dropText.hidden = false;
  });

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    status.textContent = "Prediction failed.";
    label.textContent = "\u2013";
    showProbabilities({});
  }

  function showProbabilities(probabilities) {
    const top = Object.keys(probabilities).reduce(
      (best, name) => (best === null || probabilities[name] > probabilities[best] ? name : best), null);
    for (const bar of bars) {
      const p = probabilities[bar.dataset.class];
      bar.querySelector(".fill").style.width = p === undefined ? "0%" : `${(p * 100).toFixed(1)}%`;
      bar.querySelector(".value").textContent = p === undefined ? "\u2013" : `${(p * 100).toFixed(1)}%`;
      bar.classList.toggle("top", bar.dataset.class === top);
    }
  }

  async function drawFaces(faces) {
    boxes.replaceChildren();
    if (!faces || !faces.length) return;
    const shown = preview.src;
    try {
      await preview.decode();
    } catch {
      return; // the browser cannot show this image: there is nothing to draw on
    }
    if (preview.src !== shown) return; // another image was picked meanwhile
    drawFaceBoxes(boxes, faces, preview.naturalWidth, preview.naturalHeight);
  }

  function facesFound(answer) {
    if (!answer.faces) return "";
    const n = answer.faces.length;
    if (n) return ` ${n} face${n === 1 ? "" : "s"} found.`;
    return answer.label ? " No face found: the whole image was classified." : " No face found.";
  }

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.alt = `Preview of ${file.name}`;
    preview.hidden = false;
    dropText.hidden = true;
  }

  async function classify(file) {
    current = file;
    const request = ++sent;
    explanation = null;
    showHeatmap();
    errorBox.hidden = true;
    boxes.replaceChildren();
    label.textContent = "\u2026";
    status.textContent = `Classifying ${file.name}\u2026`;
    showPreview(file);
    const body = new FormData();
    body.append("file", file);
    body.append("min_confidence", String(Number(minConfidence.value || 0) / 100));
    let response;
    let answer;
    try {
      const url = explainToggle.checked ? `${form.action}?explain=1` : form.action;
      response = await fetch(url, { method: "POST", body });
      answer = await response.json();
    } catch (err) {
      if (request === sent) showError(response ? `server answered ${response.status} ${response.statusText}` : `network error: ${err.message}`);
      return;
    }
    if (request !== sent) return; // a newer request was sent meanwhile
    if (!response.ok) {
      showError(answer.error || `server answered ${response.status}`);
      return;
    }
    status.textContent = `Result for ${file.name}:${facesFound(answer)}`;
    showProbabilities(answer.probabilities || {});
    label.textContent = answer.label || "no face found";
    drawFaces(answer.faces);
    explanation = answer.explain || null;
    showHeatmap();
  }

  // Turning the heatmap on for an image sent without it asks again, with it.
  explainToggle.addEventListener("change", () => {
    if (explainToggle.checked && explanation === null && current) classify(current);
    else showHeatmap();
  });

  // A new threshold answers the current image again (a bad one gets the API's error line).
  minConfidence.addEventListener("change", () => {
    if (current) classify(current);
  });

  input.addEventListener("change", () => {
    if (input.files.length) classify(input.files[0]);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (event) => {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, () => dropzone.classList.remove("dragging"));
  }
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) classify(file);
  });
});
