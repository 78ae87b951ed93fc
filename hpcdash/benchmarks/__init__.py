"""Helpers for `hpcdash bench` (see hpcdash.bench): an instrumented server launcher, the naive Panel
baseline app, an h5grove server and the headless-browser key-press timer. Not imported by the app."""
