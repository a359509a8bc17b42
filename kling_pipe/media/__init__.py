"""Media: the only part of kling-pipe that runs ffmpeg (probing, preview renders, stitching)."""
