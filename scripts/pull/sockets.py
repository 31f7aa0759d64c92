#!/usr/bin/env python3
"""Misbehaving network peers for the pull tests, on 127.0.0.1 only.

  sockets.py silent PORT                  accept connections and never answer (a hung server)
  sockets.py throttle PORT UPSTREAM RATE  relay to 127.0.0.1:UPSTREAM, reading the server's
                                          answer at RATE bytes/s through a small receive
                                          buffer, so a server killed meanwhile is killed
                                          mid-answer; relays what the server sent, then closes
Prints "ready" once listening; runs until killed.
"""
import socket
import sys
import threading
import time


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    print("ready", flush=True)
    return s


def silent(port):
    s = listen(port)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # keep it open, say nothing


def pipe(src, dst, rate):
    try:
        while True:
            data = src.recv(8192)
            if not data:
                break
            dst.sendall(data)
            if rate:
                time.sleep(len(data) / rate)
    except OSError:
        pass
    finally:
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()


def throttle(port, upstream, rate):
    s = listen(port)
    while True:
        c, _ = s.accept()
        u = socket.socket()
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        u.connect(("127.0.0.1", upstream))
        threading.Thread(target=pipe, args=(c, u, 0), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c, rate), daemon=True).start()


if __name__ == "__main__":
    if sys.argv[1] == "silent":
        silent(int(sys.argv[2]))
    else:
        throttle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
