"use strict";
// The review page: one job at a time, its takes side by side and in sync; a virtualised list of
// every job on the left; decisions POSTed to the server, which writes them to the lock at once.
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  };
  const ROW = 30;
  const FACETS = ["shot", "market", "ratio", "status"];
  let board = { name: "", jobs: [], cuts: [] };
  let byId = new Map();
  let shown = [];          // indexes into board.jobs that pass the filters
  let current = -1;        // index into board.jobs
  let mode = null;         // "reject" while waiting for a take number
  let axisFilters = {};    // extra matrix axes (previs variants): axis -> value
  let listening = 0;       // the take whose sound is on

  // ------------------------------------------------------------------ server

  async function decide(action, take = null, note = null) {
    const job = board.jobs[current];
    if (!job) return;
    let answer;
    try {
      const response = await fetch("/api/decide", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Kling-Review": "1" },
        body: JSON.stringify({ job: job.id, action, take, note }),
      });
      answer = await response.json().catch(() => ({ error: response.statusText }));
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (error) {
      toast(`${job.id}: ${action} not saved: ${error.message}`);
      return;
    }
    const target = byId.get(answer.id);
    Object.assign(target, answer);
    document.body.dataset.saved = String(Number(document.body.dataset.saved || 0) + 1);
    refresh(target === job);
  }

  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (node.hidden = true), 6000);
  }

  // ------------------------------------------------------------------ filters and the list

  function passes(job) {
    for (const facet of FACETS) {
      const want = $("f-" + facet).value;
      if (want && job[facet] !== want) return false;
    }
    for (const [axis, want] of Object.entries(axisFilters)) {
      if (want && job.axes[axis] !== want) return false;
    }
    return true;
  }

  function fillFilters() {
    const distinct = (key) => [...new Set(board.jobs.map(key))].filter((v) => v !== "");
    for (const facet of ["shot", "market", "ratio"]) {
      const select = $("f-" + facet);
      for (const value of distinct((j) => j[facet])) select.append(el("option", { value, text: value }));
      select.closest("label").hidden = select.options.length <= 2 && facet !== "shot";
    }
    const axes = [...new Set(board.jobs.flatMap((j) => Object.keys(j.axes)))];
    for (const axis of axes) {
      const values = distinct((j) => j.axes[axis] ?? "");
      if (values.length < 2) continue;
      const select = el("select", { id: "f-axis-" + axis, "data-axis": axis },
        el("option", { value: "", text: "all" }),
        ...values.map((value) => el("option", { value, text: value })));
      select.addEventListener("change", () => { axisFilters[axis] = select.value; filter(); });
      $("axes").append(el("label", {}, axis + " ", select));
    }
  }

  function filter() {
    shown = [];
    board.jobs.forEach((job, i) => { if (passes(job)) shown.push(i); });
    $("list-space").style.height = shown.length * ROW + "px";
    if (!shown.includes(current)) select(shown.length ? shown[0] : -1);
    else refresh(false);
    saveLocation();
  }

  function counts() {
    const left = shown.filter((i) => board.jobs[i].status === "unreviewed").length;
    $("left").textContent = `${left} left · ${shown.length} shown of ${board.jobs.length}`;
  }

  function drawList() {
    const list = $("list");
    const space = $("list-space");
    const first = Math.max(0, Math.floor(list.scrollTop / ROW) - 5);
    const last = Math.min(shown.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW) + 5);
    const rows = [];
    for (let k = first; k < last; k++) {
      const index = shown[k];
      const job = board.jobs[index];
      rows.push(el("div", {
        class: `row s-${job.status}${index === current ? " current" : ""}`,
        style: `top:${k * ROW}px`, "data-job": job.id, title: job.id,
        onclick: () => select(index),
      }, el("span", { class: "dot" }), el("span", { text: job.id }),
      el("span", { class: "take-no", text: job.picked ? "#" + job.picked : "" })));
    }
    space.replaceChildren(...rows);
  }

  function scrollListTo(index) {
    const k = shown.indexOf(index);
    const list = $("list");
    if (k < 0) return;
    if (k * ROW < list.scrollTop) list.scrollTop = k * ROW;
    else if ((k + 1) * ROW > list.scrollTop + list.clientHeight) list.scrollTop = (k + 1) * ROW - list.clientHeight;
  }

  // ------------------------------------------------------------------ one job

  const player = { videos: [], playing: false, frame: 0 };

  function stopPlayer() {
    player.playing = false;
    cancelAnimationFrame(player.frame);
    for (const video of player.videos) { video.pause(); video.removeAttribute("src"); video.load(); }
    player.videos = [];
  }

  function master() { return player.videos[0]; }

  function syncLoop() {
    const lead = master();
    if (!lead) return;
    for (const video of player.videos.slice(1)) {
      // Correct drift only when it shows: seeking every frame would stutter.
      if (!video.ended && Math.abs(video.currentTime - lead.currentTime) > 0.1) video.currentTime = lead.currentTime;
    }
    const scrub = $("scrub");
    if (scrub && lead.duration) { scrub.max = lead.duration; scrub.value = lead.currentTime; }
    const clock = $("clock");
    if (clock) clock.textContent = lead.currentTime.toFixed(2) + " s";
    if (player.playing) player.frame = requestAnimationFrame(syncLoop);
  }

  function play() {
    const lead = master();
    if (!lead) return;
    if (lead.ended || lead.currentTime >= (lead.duration || Infinity)) seek(0);
    for (const video of player.videos) video.currentTime = lead.currentTime;
    player.playing = true;
    Promise.all(player.videos.map((v) => v.play().catch(() => null))).then(syncLoop);
    $("play").textContent = "Pause";
  }

  function pause() {
    player.playing = false;
    for (const video of player.videos) video.pause();
    const lead = master();
    if (lead) for (const video of player.videos) video.currentTime = lead.currentTime;
    $("play").textContent = "Play";
    syncLoop();
  }

  function seek(seconds) {
    const lead = master();
    if (!lead) return;
    const end = lead.duration || seconds;
    const target = Math.max(0, Math.min(seconds, end));
    for (const video of player.videos) video.currentTime = target;
    syncLoop();
  }

  function listen(take) {
    listening = take;
    player.videos.forEach((video, i) => (video.muted = i !== take));
    document.querySelectorAll(".take").forEach((node, i) => node.classList.toggle("listening", i === take));
  }

  function takeView(job, take, count) {
    const picked = job.picked === take.n;
    const rejected = job.rejected.includes(take.n);
    const media = take.video
      ? el("video", { preload: "auto", playsinline: true, muted: true, poster: take.poster, src: take.video,
          "data-take": take.n, "aria-label": `take ${take.n} of ${job.id}` })
      : el("div", { class: "missing", text: take.rerolled
          ? "rerolled: the next run generates this take" : "not generated yet" });
    const label = el("b", { text: `Take ${take.n}` });
    const bar = el("div", { class: "take-bar" }, label,
      picked ? el("span", { class: "badge b-picked", text: "picked" }) : null,
      rejected ? el("span", { class: "badge b-rejected", text: "rejected" }) : null,
      el("button", { type: "button", class: "pick", title: `pick (${take.n})`, onclick: () => decide(picked ? "unpick" : "pick", picked ? null : take.n),
        text: picked ? "Unpick" : `Pick ${take.n <= 9 ? take.n : ""}`.trim() }),
      el("button", { type: "button", class: "reject", title: "reject (x)", onclick: () => decide(rejected ? "unreject" : "reject", take.n),
        text: rejected ? "Unreject" : "Reject" }),
      take.video ? el("button", { type: "button", class: "listen", title: "listen (m)", text: "♪", onclick: () => listen(take.n - 1) }) : null);
    return el("figure", { class: `take${picked ? " picked" : ""}${rejected ? " rejected" : ""}`, "data-take": take.n, style: "margin:0" }, media, bar);
  }

  // The clips this job was made from ({from: SHOT}): small, beside its takes; a click opens
  // the upstream job (its filters cleared if they hid it).
  function upstreamView(job) {
    if (!job.upstream || !job.upstream.length) return null;
    return el("div", { class: "upstream" }, ...job.upstream.map((up) => {
      const label = `${up.input} from ${up.job} take ${up.take}`;
      const media = up.kind === "image"
        ? el("img", { src: up.video, alt: label })
        : el("video", { preload: "metadata", playsinline: true, muted: true, controls: true,
            poster: up.poster, src: up.video, "aria-label": label });
      const open = () => {
        const index = board.jobs.findIndex((j) => j.id === up.job);
        if (index < 0) return;
        if (!shown.includes(index)) {
          for (const facet of FACETS) $("f-" + facet).value = "";
          filter();
        }
        select(index);
      };
      return el("figure", { class: "upstream-clip", "data-job": up.job, "data-input": up.input },
        media, el("figcaption", {}, el("a", { href: "#", class: "to-upstream", text: label,
          onclick: (event) => { event.preventDefault(); open(); } })));
    }));
  }

  function ratioNumber(ratio) {
    const [w, h] = ratio.split(":").map(Number);
    return w && h ? w / h : 16 / 9;
  }

  function drawJob() {
    stopPlayer();
    const pane = $("job");
    const job = board.jobs[current];
    if (!job) { pane.replaceChildren(el("p", { class: "dim", text: "No job matches the filters." })); return; }
    const count = job.takes.length;
    const takes = el("div", { class: "takes", style: `--n:${count};--ar:${ratioNumber(job.ratio)}` },
      ...job.takes.map((take) => takeView(job, take, count)));
    const axes = Object.entries(job.axes).map(([k, v]) => `${k}: ${v}`).join(" · ");
    const facts = el("dl", { class: "facts" },
      el("dt", { text: "Prompt" }), el("dd", { class: "prompt", text: job.prompt }),
      job.negative ? el("dt", { text: "Negative" }) : null, job.negative ? el("dd", { text: job.negative }) : null,
      el("dt", { text: "Cost" }), el("dd", { text: `est. $${job.estimate.toFixed(2)} a take` + (job.spent != null ? ` · spent $${job.spent.toFixed(2)}` : "") }),
      el("dt", { text: "Run" }), el("dd", { text: job.run + (job.error ? `: ${job.error}` : ""), class: job.error ? "error" : "" }),
      el("dt", { text: "Note" }), el("dd", { id: "note", text: job.note || "—" }),
      job.history ? el("dt", { text: "Before" }) : null,
      job.history ? el("dd", { text: `take ${job.history} was picked before the inputs changed: review again` }) : null);
    pane.replaceChildren(
      el("div", { class: "title" }, el("h1", { text: job.id }),
        el("span", { class: `badge b-${job.status}`, id: "status", text: job.status }),
        el("span", { class: "dim", text: [job.shot, job.market, job.ratio, `${job.duration} s`, axes].filter(Boolean).join(" · ") }),
        el("span", { class: "mode", id: "mode", text: mode === "reject" ? `reject which take? 1–${count}` : "" })),
      job.line ? el("p", { class: "line", lang: job.locale || null, id: "line", text: job.line }) : null,
      upstreamView(job),
      takes,
      el("div", { class: "transport" },
        el("button", { type: "button", id: "play", text: "Play", onclick: () => (player.playing ? pause() : play()) }),
        el("input", { type: "range", id: "scrub", min: 0, max: job.duration, step: "any", value: 0,
          "aria-label": "scrub every take", oninput: (e) => { const to = Number(e.target.value); pause(); seek(to); } }),
        el("span", { id: "clock", class: "dim", text: "0.00 s" })),
      el("div", { class: "actions" },
        el("button", { type: "button", id: "reroll", text: "Reroll (r)", onclick: () => decide("reroll") }),
        el("button", { type: "button", id: "unpick", text: "Unpick (u)", onclick: () => decide("unpick"), disabled: job.picked == null }),
        el("button", { type: "button", id: "edit-note", text: "Note (n)", onclick: editNote })),
      facts);
    player.videos = [...pane.querySelectorAll(".takes video")];
    const lead = master();
    if (lead) {
      lead.addEventListener("ended", () => { pause(); });
      lead.addEventListener("loadedmetadata", syncLoop);
    }
    listen(Math.min(listening, Math.max(0, player.videos.length - 1)));
    sizeTakes();
  }

  function sizeTakes() {
    const takes = document.querySelector(".takes");
    if (!takes) return;
    const n = Number(takes.style.getPropertyValue("--n")) || 1;
    const column = (takes.clientWidth - (n - 1) * 12) / n;
    takes.style.setProperty("--col", `${Math.max(120, column - 6)}px`);
  }

  function editNote() {
    const job = board.jobs[current];
    if (!job) return;
    const box = el("textarea", { id: "note-box", "aria-label": "note" });
    box.value = job.note || "";
    box.addEventListener("keydown", (event) => {
      event.stopPropagation();
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); decide("note", null, box.value); }
      else if (event.key === "Escape") refresh(true);
    });
    $("note").replaceChildren(box);
    box.focus();
  }

  // ------------------------------------------------------------------ cuts

  function drawCuts() {
    const pane = $("cuts");
    const job = board.jobs[current];
    const mine = board.cuts.filter((c) => !job || ((c.market === job.market || !c.market) && c.ratio === job.ratio));
    const cuts = mine.length ? mine : board.cuts;
    pane.replaceChildren(
      el("div", { class: "title" }, el("h1", { text: "Rough cuts" }),
        el("span", { class: "dim", text: job ? `${job.market || "all markets"} · ${job.ratio} (c: back to the job)` : "" })),
      ...(cuts.length ? cuts.map((cut) => el("section", { class: "cut", "data-cut": cut.id },
        el("h2", { text: cut.id }),
        cut.video ? el("video", { controls: true, preload: "metadata", src: cut.video }) :
          el("p", { class: "dim", text: "Not stitched yet: kling-pipe stitch makes it from the picks." }),
        el("ol", { class: "cut-clips" }, ...cut.clips.map((clip) => {
          // The job's decisions as the page knows them now, not as the cut was planned.
          const now = byId.get(clip.job) || { chosen: clip.take, picked: clip.picked ? 1 : null };
          return el("li", {
            "data-job": clip.job, onclick: () => { showCuts(false); select(board.jobs.findIndex((j) => j.id === clip.job)); },
            text: `${clip.job}: ${now.chosen ? "take " + now.chosen : "no take to use"}${now.picked != null ? " (picked)" : " (not picked)"}` });
        }))))
        : [el("p", { class: "dim", text: "The manifest has no cuts." })]));
  }

  function showCuts(on) {
    $("cuts").hidden = !on;
    $("job").hidden = on;
    if (on) { stopPlayer(); drawCuts(); } else drawJob();
  }

  // ------------------------------------------------------------------ navigation

  function select(index) {
    current = index;
    mode = null;
    refresh(true);
    scrollListTo(index);
    saveLocation();
  }

  function refresh(redrawJob) {
    counts();
    drawList();
    if (!$("cuts").hidden) drawCuts();
    else if (redrawJob) drawJob();
  }

  function step(delta) {
    if (!shown.length) return;
    const k = shown.indexOf(current);
    const next = k < 0 ? 0 : Math.max(0, Math.min(shown.length - 1, k + delta));
    select(shown[next]);
  }

  function saveLocation() {
    const params = new URLSearchParams();
    const job = board.jobs[current];
    if (job) params.set("job", job.id);
    for (const facet of FACETS) if ($("f-" + facet).value) params.set(facet, $("f-" + facet).value);
    history.replaceState(null, "", location.pathname + location.search + "#" + params.toString());
  }

  function restoreLocation() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const facet of FACETS) {
      const value = params.get(facet);
      if (value && [...$("f-" + facet).options].some((o) => o.value === value)) $("f-" + facet).value = value;
    }
    return params.get("job");
  }

  function onKey(event) {
    const tag = event.target.tagName;
    if (tag === "TEXTAREA" || (tag === "INPUT" && event.target.type !== "range") || tag === "SELECT") {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const job = board.jobs[current];
    const key = event.key;
    if (mode === "reject") {
      mode = null;
      const n = Number(key);
      if (job && n >= 1 && n <= job.takes.length) decide("reject", n);
      else refresh(true);
      event.preventDefault();
      return;
    }
    const actions = {
      j: () => step(1), ArrowDown: () => step(1), k: () => step(-1), ArrowUp: () => step(-1),
      " ": () => (player.playing ? pause() : play()),
      ArrowRight: () => seek((master()?.currentTime || 0) + 1),
      ArrowLeft: () => seek((master()?.currentTime || 0) - 1),
      0: () => seek(0),
      u: () => decide("unpick"), r: () => decide("reroll"), n: () => editNote(),
      m: () => listen((listening + 1) % Math.max(1, player.videos.length)),
      c: () => showCuts($("cuts").hidden),
      "?": () => ($("help").hidden = !$("help").hidden),
      Escape: () => { $("help").hidden = true; mode = null; },
      x: () => {
        if (!job) return;
        if (job.takes.length === 1) decide("reject", 1);
        else { mode = "reject"; $("mode").textContent = `reject which take? 1–${job.takes.length}`; }
      },
    };
    if (/^[1-9]$/.test(key)) {
      if (job && Number(key) <= job.takes.length) decide("pick", Number(key));
    } else if (actions[key]) actions[key]();
    else return;
    event.preventDefault();
  }

  // ------------------------------------------------------------------ start

  async function start() {
    const response = await fetch("/api/board");
    board = await response.json();
    byId = new Map(board.jobs.map((job) => [job.id, job]));
    document.title = `${board.name} · kling-pipe review`;
    $("name").textContent = board.name;
    fillFilters();
    const wanted = restoreLocation();
    for (const facet of FACETS) $("f-" + facet).addEventListener("change", filter);
    $("list").addEventListener("scroll", () => requestAnimationFrame(drawList), { passive: true });
    window.addEventListener("resize", () => { drawList(); sizeTakes(); });
    document.addEventListener("keydown", onKey);
    $("to-cuts").addEventListener("click", () => showCuts($("cuts").hidden));
    $("to-help").addEventListener("click", () => ($("help").hidden = !$("help").hidden));
    shown = [];
    board.jobs.forEach((job, i) => { if (passes(job)) shown.push(i); });
    $("list-space").style.height = shown.length * ROW + "px";
    const at = board.jobs.findIndex((job) => job.id === wanted);
    select(shown.includes(at) ? at : (shown.length ? shown[0] : -1));
    document.body.dataset.ready = "1";
  }

  start().catch((error) => toast("could not load the campaign: " + error.message));
})();
