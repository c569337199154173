"""Animated clip previews: human skeleton and robot variants side by side, rendered headless.

``render_preview(clip, path)`` (``viz.preview.api``) writes an MP4 (H.264 through
imageio-ffmpeg's bundled ffmpeg) or a GIF with one video frame per clip frame.
Drawing is Pillow's ``ImageDraw`` on orthographic projections computed with numpy
for the whole clip at once (no matplotlib per frame).
"""
