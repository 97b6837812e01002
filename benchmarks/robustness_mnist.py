"""Adversarial robustness on MNIST: a domain classifier, FGSM / PGD attacks, and an APE-GAN class purifier.

Steps, in one run: (1) train ganforge's domain classifier on the MNIST training set; (2) train the purifier
(``ganforge train purifier``: FGSM examples with eps up to 0.3 made on the fly against that classifier);
(3) on the first ``--n`` test images report clean accuracy, accuracy under FGSM (eps 0.1, 0.3) and PGD
(eps 0.1, 0.3, ``--pgd-steps`` iterations, random start), and accuracy after purification.

Threat models, stated with every figure: *gray-box* -- the attacker knows the classifier but not the
purifier (adversarial images are computed on the bare classifier, then purified); *white-box* -- PGD
through purifier + classifier (the purifier is differentiable, so this is exact, no BPDA needed).
A non-GAN baseline defence runs side by side: 1-bit depth reduction (feature squeezing, Xu et al. 2018),
gray-box as well.

    PYTHONPATH=. python benchmarks/robustness_mnist.py [--clf-minutes 1] [--minutes 2] [--n 500]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import ganforge  # noqa: E402
from record import DATA, ROOT as _ROOT, append_result, machine_facts  # noqa: E402

RESULTS = _ROOT / "benchmarks" / "results_analysis.json"  # a file of its own: fewer merge conflicts
from ganforge.data import load_images  # noqa: E402
from ganforge.metrics.features import train_domain_features  # noqa: E402
from ganforge.metrics.robustness import evaluate, load_classifier, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clf-minutes", type=float, default=1.0, help="classifier training budget")
    ap.add_argument("--minutes", type=float, default=2.0, help="purifier training budget")
    ap.add_argument("--n", type=int, default=500, help="test images attacked")
    ap.add_argument("--pgd-steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to results.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mnist = DATA / "mnist"
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clf_file = Path(tmp) / "mnist-classifier.safetensors"
        t = time.perf_counter()
        trained = train_domain_features(str(mnist), clf_file, size=args.size, epochs=3, minutes=args.clf_minutes,
                                        threads=args.threads, test_data=str(mnist / "t10k-images-idx3-ubyte.gz"))
        clf_s = time.perf_counter() - t
        print(f"classifier: {trained}", flush=True)
        t = time.perf_counter()
        purifier = ganforge.train("purifier", classifier=str(clf_file), data=str(mnist), out=Path(tmp) / "purifier",
                                  minutes=args.minutes, batch=64, width=args.width, threads=args.threads,
                                  progress=False, eval_every=10**9, checkpoint_every=10**9, log_every=100)
        pur_s = time.perf_counter() - t
        print(f"purifier: {purifier.meta['step']} steps in {pur_s:.0f} s", flush=True)
        clf = load_classifier(clf_file)
        test = load_images(str(mnist / "t10k-images-idx3-ubyte.gz"), args.size, limit=args.n)
        x = test.images.float().div(127.5).sub(1)
        t = time.perf_counter()
        gan = evaluate(clf, x, test.labels, eps=(0.1, 0.3), purifier=purifier, white_box=True,
                       pgd_steps=args.pgd_steps)
        print(table(gan), flush=True)
        squeeze = evaluate(clf, x, test.labels, eps=(0.1, 0.3), purifier=lambda im: torch.where(im > 0, 1.0, -1.0),
                           pgd_steps=args.pgd_steps)
        print("baseline defence: 1-bit depth reduction (gray-box)")
        print(table(squeeze), flush=True)
        eval_s = time.perf_counter() - t
    record = dict(machine_facts("robustness_mnist"), config=vars(args),
                  classifier={"val_accuracy": trained.val_accuracy, "test_accuracy": trained.test_accuracy,
                              "seconds": round(clf_s, 1), "steps": trained.steps},
                  purifier={"steps": purifier.meta["step"], "seconds": round(pur_s, 1)},
                  ape_gan=gan, bit_depth_1=squeeze, eval_s=round(eval_s, 1), wall_s=round(time.perf_counter() - t_all, 1))
    if not args.no_record:
        append_result(record, RESULTS)
    print(f"total {record['wall_s']:.0f} s" + ("" if args.no_record else "; appended to benchmarks/results_analysis.json"))


if __name__ == "__main__":
    main()
