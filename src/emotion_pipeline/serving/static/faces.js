"use strict";

// One way to draw faces over a picture, for the still image (app.js) and the camera (video.js):
// each box, given in the picture's pixels, is placed in % of the picture, so it fits the shown
// picture at any size, with its label on top (inside the box where the face touches the top edge).
function drawFaceBoxes(container, faces, width, height) {
  container.replaceChildren();
  for (const face of faces) {
    const [x0, y0, x1, y1] = face.box;
    const box = document.createElement("span");
    box.className = "face-box";
    box.classList.toggle("at-top", y0 / height < 0.1);
    box.style.left = `${(100 * x0) / width}%`;
    box.style.top = `${(100 * y0) / height}%`;
    box.style.width = `${(100 * (x1 - x0)) / width}%`;
    box.style.height = `${(100 * (y1 - y0)) / height}%`;
    const tag = document.createElement("span");
    tag.className = "face-label";
    tag.textContent = face.label;
    box.append(tag);
    container.append(box);
  }
}
