"""Real-browser test harness: a throw-away JupyterLab server and Playwright helpers for Chromium."""
