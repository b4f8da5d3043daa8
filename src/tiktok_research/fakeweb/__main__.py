"""`python -m tiktok_research.fakeweb --port 8765`: serve the fake web until interrupted."""

from __future__ import annotations

import argparse

from tiktok_research.fakeweb.server import FakeWeb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    web = FakeWeb(host=args.host, port=args.port)
    print(f"fake web serving on {web.base_url}", flush=True)
    try:
        web.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
