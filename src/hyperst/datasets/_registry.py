"""Download registry: where each dataset file lives upstream and its sha256, fetched and verified with pooch.

Files are cached under our own names (``her2st/<section>/counts.tsv.gz``, ``spots.tsv``, ``he.jpg``) in
``$HYPERST_DATA_DIR`` (default: the user cache folder, ``pooch.os_cache("hyperst")``). Files already present with
the right checksum are never downloaded again, so a populated ``HYPERST_DATA_DIR`` works offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperst._constants import DATA_DIR_ENV

if TYPE_CHECKING:
    import pooch as pooch_module

# Andersson et al., Nat. Commun. 12, 6012 (2021); public repository almaan/her2st.
HER2ST_BASE_URL = "https://raw.githubusercontent.com/almaan/her2st/master/"

# section -> original file name of its H&E image in the repository (data/ST-imgs/<patient>/<section>/)
HER2ST_IMAGES = {
    "B4": "BT10737_D2_HE.jpg",
    "C2": "5714_HE_BT_C2.jpg",
    "C3": "5714_HE_BT_D1.jpg",
    "C4": "5714_HE_BT_D2.jpg",
    "C5": "5714_HE_BT_E1.jpg",
    "C6": "5714_HE_BT_E2.jpg",
}

# cache name -> sha256
HER2ST_SHA256 = {
    "her2st/B4/counts.tsv.gz": "e38231c2a38c9bc7e6d550eec0e527c1869ee0e525fc913e708d1323c34f5ebb",
    "her2st/B4/he.jpg": "3cb165614ce2a13426381e450220dccac980cc9bda6a90fb041c28ca0e2c753d",
    "her2st/B4/spots.tsv": "192b46f3ca414c85753a01a4fb5760a697ca6c0a1aadb949c4687cc6efa9faa0",
    "her2st/C2/counts.tsv.gz": "c1c59ea6cffae36b9ecb561b8e2a97e3aa5f4085f748e991a0e330ed9d09773d",
    "her2st/C2/he.jpg": "26e2f73ae840cdd46c5bba405aae181f13a56a376b9848dff23f7a9c5de7f19e",
    "her2st/C2/spots.tsv": "235b5f4306b3b57c628ffc82c98c7109602474fbcc79a917b9c50517f99b6b1c",
    "her2st/C3/counts.tsv.gz": "e00c55a3eb9caac5d9c71b8906aae8be8b38f93e23938f4a0ebee17683ef6a2a",
    "her2st/C3/he.jpg": "0005a92674014d473040a28f0afca89ce5fa5c44019b479b638ceb3272ceb568",
    "her2st/C3/spots.tsv": "7fd76c13370b7804ac3bb377b846d22485cf9223f9dd8dfc25be06e5aaf65755",
    "her2st/C4/counts.tsv.gz": "33201f76d41d7131dc600a0f87d9a70383af3503e81698b4d11e6f2e8d73e9da",
    "her2st/C4/he.jpg": "f40607eb1d5f0d125decd71c48b0c5d29cf6776ad92297fd185631208c82d6f2",
    "her2st/C4/spots.tsv": "47e79f3b9dbfa3a8c18af9e948ba7ba4bf0a75ea1b4c292bc714ced7d0917d4c",
    "her2st/C5/counts.tsv.gz": "c0f310315ca6110d74dbdf7011e5b42432ba0b8eb5f001824764911988f39338",
    "her2st/C5/he.jpg": "34028ea41e376396b50c42b0a11a7e689c85be4a8022e668d0a09cc128c04c65",
    "her2st/C5/spots.tsv": "2114cc3b4da759772112897f1e247d5443c9f8c808e6a9a952eb4fda379a194c",
    "her2st/C6/counts.tsv.gz": "60478b0d2411501866685f41312c65c6591e499d64d5b719be8ee9bab25c9bc8",
    "her2st/C6/he.jpg": "dddd87232589648861a9b6776dc1749be8306213f6589aeef0e805fb2b1ee263",
    "her2st/C6/spots.tsv": "efdbbc6759c6af43baa966505c31705f09c087c1dccf1ea3e0d1db7b55717117",
}


def her2st_files(section: str) -> dict[str, str]:
    """Cache name -> path in the her2st repository, for the three files of one section."""
    patient = section[0]
    return {
        f"her2st/{section}/counts.tsv.gz": f"data/ST-cnts/{section}.tsv.gz",
        f"her2st/{section}/spots.tsv": f"data/ST-spotfiles/{section}_selection.tsv",
        f"her2st/{section}/he.jpg": f"data/ST-imgs/{patient}/{section}/{HER2ST_IMAGES[section]}",
    }


def make_pooch(
    files: dict[str, str], sha256: dict[str, str], base_url: str, data_dir: str | None = None
) -> pooch_module.Pooch:
    """Create a pooch over ``files`` (cache name -> path under ``base_url``) verified against ``sha256``.

    Parameters
    ----------
    files
        Cache name -> path relative to ``base_url``.
    sha256
        Cache name -> expected sha256 hex digest.
    base_url
        URL the paths are relative to (ends with ``/``).
    data_dir
        Cache folder; default ``$HYPERST_DATA_DIR``, else the user cache folder.
    """
    import pooch

    return pooch.create(
        path=data_dir if data_dir is not None else pooch.os_cache("hyperst"),
        base_url=base_url,
        registry={name: f"sha256:{sha256[name]}" for name in files},
        urls={name: base_url + path for name, path in files.items()},
        env=None if data_dir is not None else DATA_DIR_ENV,
    )
