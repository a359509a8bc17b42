"use strict";
// report.html: shows blocks of cards near the screen, filters by a compact index, plays clips.
(async () => {
  const index = JSON.parse(document.getElementById("gallery-index").textContent);
  // Every block's HTML, gzip-compressed in base64: inflated natively, once.
  const packed = document.getElementById("gallery-blocks").textContent;
  const bytes = await fetch("data:application/gzip;base64," + packed);
  const inflated = bytes.body.pipeThrough(new DecompressionStream("gzip"));
  const sources = JSON.parse(await new Response(inflated).text());
  const facets = index.facets;
  const uncounted = new Set(index.uncounted); // the problems list: its cards are counted once
  const selects = index.selects.map((id) => document.getElementById(id));
  const blocks = [...document.querySelectorAll(".block")];
  const wanted = () => selects.map((s) => s.value);
  const passes = (values, want) => want.every((w, i) => !w || values[i] === w);
  function show(block) {
    if (block.dataset.shown) return;
    block.dataset.shown = "1";
    block.style.minHeight = "";
    block.insertAdjacentHTML("beforeend", sources[block.dataset.block]);
    markCards(block, wanted());
  }
  function hide(block) {
    if (!block.dataset.shown) return;
    // Keep the height it had, so the scrollbar does not jump (a block hidden by the filters
    // has none: keep the last one measured).
    block.dataset.height = block.offsetHeight || block.dataset.height || 0;
    block.style.minHeight = block.dataset.height + "px";
    block.replaceChildren();
    delete block.dataset.shown;
  }
  function markCards(block, want) {
    for (const card of block.querySelectorAll("[data-status]")) {
      card.classList.toggle("filtered", !passes(facets.map((f) => card.dataset[f] || ""), want));
    }
    for (const row of block.querySelectorAll("[data-group]")) {
      row.classList.toggle("filtered", !row.querySelector("[data-status]:not(.filtered)"));
    }
  }
  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) (entry.isIntersecting ? show : hide)(entry.target);
    // Ready once the first blocks near the screen are in (the observer's first report).
    document.body.dataset.ready = "1";
  }, { rootMargin: "1200px 0px" });
  function apply() {
    const want = wanted();
    let shown = 0;
    blocks.forEach((block) => {
      const count = index.blocks[block.dataset.block].filter((v) => passes(v, want)).length;
      if (!uncounted.has(Number(block.dataset.block))) shown += count;
      block.hidden = count === 0;
      if (block.dataset.shown) markCards(block, want);
    });
    for (const group of document.querySelectorAll("section[data-group], div[data-group].cut-group")) {
      const open = group.querySelector(".block:not([hidden])");
      group.classList.toggle("filtered", !open);
    }
    // Blocks the filters brought near the screen are shown now, not on the observer's next
    // report; their positions are read in one pass, before any is filled.
    const near = blocks.filter((block) => {
      if (block.hidden || block.dataset.shown) return false;
      const box = block.getBoundingClientRect();
      return box.bottom > -1200 && box.top < innerHeight + 1200;
    });
    near.forEach(show);
    document.getElementById("filter-count").textContent = shown + " shown";
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.play");
    const frame = event.target.closest("video.frame");
    const video = frame || (button && button.closest(".take").querySelector("video"));
    if (!video) return;
    if (video.paused) {
      for (const other of document.querySelectorAll("video.frame")) if (other !== video) other.pause();
      video.play();
    } else video.pause();
  });
  const label = (video, text) => {
    const button = video.closest(".take").querySelector("button.play");
    if (button) button.textContent = text;
  };
  document.addEventListener("play", (e) => label(e.target, "❚❚ pause"), true);
  document.addEventListener("pause", (e) => label(e.target, "▶ play"), true);
  document.addEventListener("timeupdate", (e) => {
    const seek = e.target.closest(".take") && e.target.closest(".take").querySelector("input.seek");
    if (seek && e.target.duration) seek.value = (1000 * e.target.currentTime) / e.target.duration;
  }, true);
  document.addEventListener("input", (e) => {
    if (!e.target.matches("input.seek")) return;
    const video = e.target.closest(".take").querySelector("video");
    if (video.readyState === 0) video.preload = "metadata";
    const go = () => { video.currentTime = (video.duration * e.target.value) / 1000; };
    if (video.duration) go(); else video.addEventListener("loadedmetadata", go, { once: true });
  });
  for (const select of selects) select.addEventListener("change", apply);
  apply();
  blocks.forEach((block) => seen.observe(block));
  if (!blocks.length) document.body.dataset.ready = "1";
})();
