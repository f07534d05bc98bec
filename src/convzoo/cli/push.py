"""`convzoo push`: share a trained checkpoint on the Hugging Face Hub."""
from __future__ import annotations

DESCRIPTION = """Uploads a `convzoo train` checkpoint to the Hugging Face Hub repo OWNER/REPO
(created if needed): model.safetensors, config.json (model, classes, preprocessing,
decision rule) and a model card (README.md: metrics, data, intended use, limitations).
Load it back with get_model("hf-hub:OWNER/REPO") or Classifier.from_pretrained("hf-hub:OWNER/REPO").
Needs the hub extra: pip install 'convzoo[hub]'."""


def add_push_parser(sub) -> None:
    p = sub.add_parser("push", help="share a trained checkpoint on the Hugging Face Hub", description=DESCRIPTION)
    p.add_argument("checkpoint", help="the best.safetensors that `convzoo train` wrote (with its best.json beside it)")
    p.add_argument("repo", metavar="OWNER/REPO", help="the Hub repo to upload to")
    p.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its "
                                                          "visibility)")
    p.add_argument("--token", metavar="TOKEN", help="a Hugging Face write token; unset: $HF_TOKEN or the one saved "
                                                    "by `hf auth login`")
    p.set_defaults(run=_cmd_push)


def _cmd_push(args) -> int:
    from ..tasks.deploy.hub_push import push

    url = push(args.checkpoint, args.repo, private=args.private, token=args.token)
    print(f"pushed {args.checkpoint} to {url}")
    return 0
