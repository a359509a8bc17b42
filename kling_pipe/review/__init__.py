"""The review app: a local web page for watching takes side by side and deciding on them.

`contents` builds what the page shows from the campaign (pure), `decisions` reads and writes
the reviewer's picks, rejections, notes and rerolls through the lock's API, `files` says which
files of the campaign may be served, `server` is the HTTP layer (aiohttp on loopback) and
`static/` the page itself.
"""
