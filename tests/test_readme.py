"""The README's commands are the ones that run: CI calls the test command verbatim."""
import re
from pathlib import Path

from paths import EXAMPLES, ROOT


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_main_job_and_test_commands():
    main_job, tests = _readme_commands()[:2]
    assert "pip install -e ." in main_job and "convzoo predict examples/" in main_job
    assert "pip install -e '.[test]'" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    tests = _readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must run the README's test command verbatim"


def _readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)


def _make_users_files(folder: Path) -> None:
    """What a reader of the README has at hand: the example photos, a torchvision
    checkpoint file, a folder of their own labelled images, a new photo."""
    import shutil

    import torch
    import torchvision
    from PIL import Image

    shutil.copytree(EXAMPLES, folder / "examples")
    torch.save(torchvision.models.resnet50().state_dict(), folder / "resnet50-11ad3fa6.pth")
    rng = torch.Generator().manual_seed(0)
    for label, photo in (("coffee", "coffee.png"), ("cat", "chelsea.png")):
        image = Image.open(EXAMPLES / photo).convert("RGB")
        (folder / "my_images" / label).mkdir(parents=True)
        for i in range(5):  # random 60% crops of the real photo
            w, h = image.size
            left, top = (int(torch.randint(0, int(0.4 * s), (1,), generator=rng)) for s in (w, h))
            image.crop((left, top, left + int(0.6 * w), top + int(0.6 * h))).save(
                folder / "my_images" / label / f"{i}.png")
    Image.open(EXAMPLES / "chelsea.png").convert("RGB").save(folder / "new.jpg")


def test_readme_python_snippets_run_as_written(tmp_path, monkeypatch):
    blocks = _readme_python_blocks()
    assert blocks, "the README has no Python snippet"
    _make_users_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        namespace: dict = {"__name__": "__readme__"}
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "runs" / "mine" / "best.safetensors").is_file()
