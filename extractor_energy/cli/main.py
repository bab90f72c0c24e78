"""``extractor-energy`` command line: serve, extract, publish, train, api-key, tiny-model, synth, eval."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    if args.ray:
        from extractor_energy.cli.ray import serve_ray

        return serve_ray(args)
    if args.replicas is not None:
        print("extractor-energy: --replicas needs --ray (one process serves one model)", file=sys.stderr)
        return 2
    import uvicorn

    from extractor_energy.api.server import GracefulServer

    from extractor_energy.api.app import create_app
    from extractor_energy.config import get_settings
    from extractor_energy.engine.model import ModelLoadError, load_model

    from extractor_energy.api.auth import AuthConfigError, serving_host

    settings = get_settings()
    try:
        host = serving_host(args.host, settings)
    except AuthConfigError as exc:
        print(f"extractor-energy: {exc}", file=sys.stderr)
        return 2
    try:
        loaded = load_model(settings)  # fail fast, with one clear line, before binding the port
    except ModelLoadError as exc:
        print(f"extractor-energy: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, loaded)
    config = uvicorn.Config(
        app, host=host, port=args.port, log_level=args.log_level,
        timeout_graceful_shutdown=1,  # the drain (GracefulServer) has used the grace already
    )

    def scheduler() -> object | None:
        service = getattr(app.state, "service", None)
        return service.scheduler if service is not None else None

    GracefulServer(config, grace_s=settings.shutdown_grace_s, drain=scheduler).run()
    # everything was stopped in the lifespan: skip the interpreter's teardown (garbage-collecting
    # the model takes seconds), so the process exits within EXTRACTOR_SHUTDOWN_GRACE_S + 2 s
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _publish(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from extractor_energy.adapters.validation import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE
    from extractor_energy.domain.keys import InvalidKey, parse_key
    from extractor_energy.adapters.publish import publishing

    try:
        key = parse_key(args.key).key
    except InvalidKey as exc:
        print(f"extractor-energy: {exc}", file=sys.stderr)
        return 2
    source = Path(args.src)
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (source / name).is_file()]
    if missing:
        print(f"extractor-energy: {source} has no {' or '.join(missing)}; it is not a PEFT LoRA adapter folder", file=sys.stderr)
        return 2
    if args.adapters_dir:
        root = Path(args.adapters_dir)
    else:
        from extractor_energy.config import get_settings

        root = get_settings().adapters_dir
    target = root / key
    with publishing(target) as staging:  # hidden sibling, fsynced, then one atomic rename/exchange
        for name in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
            if (source / name).is_file():
                shutil.copyfile(source / name, staging / name)  # contents only: links are not carried over
    print(f"published {source} as {target} (a running server validates and serves it within seconds)")
    return 0


def _api_key(args: argparse.Namespace) -> int:
    from extractor_energy.api.auth import hash_key, new_key

    key = new_key()
    entry = f"{args.name + ':' if args.name else ''}{args.scope}:{hash_key(key)}"
    print(f"key (give it to the client; the server stores only its hash): {key}")
    print(f"entry for EXTRACTOR_API_KEYS (comma-separated) or EXTRACTOR_API_KEYS_FILE (one per line): {entry}")
    return 0


def _tiny_model(args: argparse.Namespace) -> int:
    from extractor_energy.engine.tiny import build_tiny_model

    out = build_tiny_model(args.out_dir, family=args.family, size=args.size, seed=args.seed)
    print(f"wrote a {args.size} {args.family} model to {out}; serve it with EXTRACTOR_MODEL={out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extractor-energy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (settings from EXTRACTOR_* variables and .env)")
    serve.add_argument(
        "--host", default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; 0.0.0.0 for all — needs EXTRACTOR_API_KEYS or EXTRACTOR_ALLOW_ANONYMOUS=true)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--ray", action="store_true",
        help="run on Ray Serve (pip install 'extractor-energy[ray]'): model replicas, each request routed to a replica "
             "that holds its key's adapter; a local Ray instance, or the cluster RAY_ADDRESS names",
    )
    serve.add_argument("--replicas", type=int, default=None, metavar="N",
                       help="with --ray: model replicas, one model each (one GPU each when CUDA is used; default 1)")
    serve.set_defaults(func=_serve)

    publish = sub.add_parser(
        "publish", help="copy an adapter folder into adapters/<KEY>/ atomically, replacing the previous version"
    )
    publish.add_argument("src", help="folder with adapter_config.json + adapter_model.safetensors (+ extractor_metadata.json)")
    publish.add_argument("key", help="<concessionaria>_<uf>, e.g. equatorial_go")
    publish.add_argument("--adapters-dir", default=None, help="default EXTRACTOR_ADAPTERS_DIR (adapters)")
    publish.set_defaults(func=_publish)

    api_key = sub.add_parser("api-key", help="make a new random API key and print it with its EXTRACTOR_API_KEYS entry (hash)")
    api_key.add_argument("--scope", default="extract", choices=["extract", "admin", "review", "extract+admin", "extract+review"],
                         help="default extract; review: the /ui review page (admin keys may review too)")
    api_key.add_argument("--name", default="", help="name shown in logs and used for the rate limit (letters, digits, _.-)")
    api_key.set_defaults(func=_api_key)

    tiny = sub.add_parser("tiny-model", help="build a small random-weight checkpoint offline (tests, demos, benchmarks)")
    tiny.add_argument("out_dir", help="directory to write the checkpoint to")
    tiny.add_argument("--family", default="qwen2_5_vl", choices=["qwen2_5_vl", "qwen2_vl", "text"],
                      help="qwen2_5_vl / qwen2_vl: a vision-language model (vlm family); text: a Llama-architecture "
                           "causal LM for page text (text family) (default qwen2_5_vl)")
    tiny.add_argument("--size", default="tiny", choices=["tiny", "bench"], help="tiny ≈ 0.3M parameters; bench ≈ 25M (default tiny)")
    tiny.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    tiny.set_defaults(func=_tiny_model)

    try:
        from extractor_energy.cli.synth import add_synth_arguments, run_synth
    except ImportError:  # pragma: no cover - synth is part of the package
        pass
    else:
        synth = sub.add_parser("synth", help="write synthetic bills + annotations.jsonl (exact ground truth)")
        add_synth_arguments(synth)
        synth.set_defaults(func=run_synth)

    from extractor_energy.cli.train import add_train_arguments, run_train

    train = sub.add_parser("train", help="corrected bills of the review page -> an adapter, published only if it beats "
                           "the one serving the key on held-out bills")
    add_train_arguments(train)
    train.set_defaults(func=run_train)

    from extractor_energy.cli.extract import add_extract_arguments, run_extract

    extract = sub.add_parser("extract", help="extract many bills (files or folders) into one JSONL or CSV file, "
                             "locally or against --server; resumable")
    add_extract_arguments(extract)
    extract.set_defaults(func=run_extract)

    try:
        from extractor_energy.cli.eval import add_eval_arguments, run_eval
    except ImportError:
        pass
    else:
        evaluate = sub.add_parser("eval", help="field-level accuracy / F1 / exact match of a model or adapter on a data set")
        add_eval_arguments(evaluate)
        evaluate.set_defaults(func=run_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
