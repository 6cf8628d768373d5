"""The ``snnhw`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .config import load_config
from .errors import InputError, SnnhwError, ToolError
from .protocol import DEFAULT_BAUD

__all__ = ["main"]

log = logging.getLogger("snnhw")


def _cmd_validate(args: argparse.Namespace) -> int:
    from .families import resolve

    try:
        resolve(load_config(args.config))
    except SnnhwError as e:
        for line in str(e).splitlines():
            print(line)
        return 1
    print("OK")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .export import generate

    gen = generate(load_config(args.config), args.out)
    m = gen.manifest
    bits = m.get("total_memory_bits", m.get("kernel_memory_bits"))
    what = "memory bits" if "total_memory_bits" in m else "kernel memory bits"
    print(f"wrote {gen.verilog} (top {m['top']}, {m['lanes']} lanes, {bits} {what}) and "
          f"manifest.json to {gen.out_dir}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .export import make_dir
    from .families import require, resolve_layer
    from .golden import LayerModel, Trace, cycle_model, ideal_cycles
    from .ir import dump_resolved
    from .spikes import load_events, random_events, save_events

    config = load_config(args.config)
    layer = resolve_layer(config)
    require(layer, "simulate")
    if args.input is not None:
        events = load_events(args.input, layer.n_in)
    else:
        events = random_events(layer.n_in, args.random, args.activity, args.seed)
    out = make_dir(args.out or Path("build") / "simulate" / layer.name)

    model = LayerModel(layer)
    spikes = np.zeros((len(events), layer.n_out), dtype=bool)
    for t, ev in enumerate(tqdm(events, desc="simulating", unit="step",
                                disable=None if len(events) > 200 else True)):
        spikes[t] = model.step(ev)
    counts = np.array([len(e) for e in events], dtype=np.int64)
    trace = Trace(spikes=spikes, v=model.v.copy(), ref=model.ref.copy(), event_counts=counts,
                  cycles=cycle_model(layer, counts, spikes))

    save_events(out / "input_events.txt", events)
    (out / "output_spikes.txt").write_text(
        "# timestep neuron\n" + "".join(f"{t} {n}\n" for t, n in trace.spike_events()))
    np.save(out / "output_spikes.npy", spikes)
    np.savez(out / "final_state.npz", v=trace.v, ref=trace.ref)
    dump_resolved(config, layer, out / "resolved_config.json")
    ideal = ideal_cycles(layer, counts)
    c = trace.cycles
    report = {
        "timesteps": len(events),
        "input_events": c.input_events,
        "output_spikes": c.output_spikes,
        "synaptic_events": c.synaptic_events,
        "busy_cycles": c.busy_cycles,
        "ideal_cycles": ideal,
        "cycles_over_ideal": round(c.busy_cycles / ideal, 4) if ideal else 0.0,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _raster_plot(out / "output_spikes.png", spikes, layer.name)
    print(f"{len(events)} timesteps, {c.input_events} input events, {c.output_spikes} output "
          f"spikes, {c.busy_cycles} cycles ({report['cycles_over_ideal']}x ideal); "
          f"wrote {out}")
    return 0


def _raster_plot(path: Path, spikes: np.ndarray, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    t, n = np.nonzero(spikes)
    ax.scatter(t, n, s=2, marker="|", color="k")
    ax.set_xlabel("timestep")
    ax.set_ylabel("neuron")
    ax.set_title(f"{title}: output spikes")
    ax.set_xlim(-0.5, max(1, spikes.shape[0]) - 0.5)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    def progress(msg: str) -> None:
        print(f"snnhw verify: {msg} ...", file=sys.stderr, flush=True)

    result = verify(args.config, simulator=args.sim, seed=args.seed, timesteps=args.timesteps,
                    activity=args.activity, input_file=args.input, out_dir=args.out,
                    check_weights=not args.no_weights, waves=args.waves, progress=progress,
                    samples=args.samples, infer_samples=args.infer_samples,
                    dataset=args.dataset, data_dir=args.data_dir)
    print(result.summary())
    return 0 if result.ok else 1


def _bars():
    """A tqdm bar per stage, for the ``progress`` hook of :mod:`snnhw.train`."""
    from tqdm import tqdm

    bars = []

    def start(stage: str, total: int):
        if bars:
            bars[-1].close()
        bars.append(tqdm(total=total, desc=stage, unit="sample", leave=False))
        return bars[-1].update

    return start, bars


def _cmd_train(args: argparse.Namespace) -> int:
    from .families import load, require_network, resolve

    family = require_network(resolve(load_config(args.config)), "train")
    start, bars = _bars()
    try:
        return load(family.train_cli)(args, start)
    finally:
        for b in bars:
            b.close()


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .families import load, require_network, resolve

    config = Path(args.model) / "config.toml"
    if not config.is_file():
        raise InputError(f"{args.model}: not a model folder (no config.toml); train one with "
                         "snnhw train")
    family = require_network(resolve(load_config(config)), "evaluate")
    start, bars = _bars()
    try:
        return load(family.evaluate_cli)(args, start)
    finally:
        for b in bars:
            b.close()


def _cmd_program(args: argparse.Namespace) -> int:
    from .boards import get_board
    from .program import program

    board = get_board(args.board)
    print(f"programming {board.title} ({board.device}) with {args.bitstream} ...", flush=True)
    program(board, args.bitstream)
    print(f"programmed {board.title}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .boards import get_board
    from .families import load, require_network, resolve
    from .host.run import run
    from .host.serialport import board_port
    from .protocol import ProtocolError

    board = get_board(args.board) if args.board else None
    port = args.port or (board_port(board) if board else None)
    baud = args.baud or DEFAULT_BAUD
    if args.backend == "serial" and not port:
        raise InputError("--backend serial needs --port PORT or --board NAME")
    family = require_network(resolve(load_config(args.config)), "run")
    start, bars = _bars()
    if family.run_cli is not None:
        args.port, args.baud = port, baud
        try:
            return load(family.run_cli)(args, start)
        finally:
            for b in bars:
                b.close()
    try:
        result = run(args.config, backend=args.backend, port=port, baud=baud,
                     dataset=args.dataset, data_dir=args.data_dir, learn=args.learn,
                     label=args.label, infer=args.infer, model=args.model,
                     seed=args.seed or 0, out_dir=args.out, progress=start)
    except ProtocolError as e:  # a broken link, not a bug of ours
        raise ToolError(f"host link: {e}") from None
    finally:
        for b in bars:
            b.close()
    r = result.report
    parts = []
    for stage, verb in (("learning", "learned"), ("labelling", "labelled with"),
                        ("inference", "inferred")):
        if stage in r:
            s = r[stage]
            parts.append(f"{verb} {s['samples']} samples ({s['samples_per_second']} samples/s, "
                         f"{s['presentations_per_sample']} presentations and "
                         f"{s['spikes_per_sample']} spikes per sample)")
    print(f"{args.backend}: " + ("; ".join(parts) or "nothing to do"))
    if "accuracy" in r:
        busy = r["inference"]["counters"]["busy_cycles"]
        cycles = f", {busy / r['inference']['samples']:.0f} busy cycles per sample" \
            if busy is not None and r["inference"]["samples"] else ""
        print(f"accuracy {r['accuracy']:.4f} on {r['inference']['samples']} test samples"
              f"{cycles}")
    print(f"wrote {result.out_dir}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from .build import build, timing_failures

    live = sys.stderr.isatty()
    shown = [""]

    def progress(stage: str, elapsed: float) -> None:
        line = f"snnhw build: {stage} ({elapsed:.0f} s)"
        if live:  # one line, rewritten in place
            print(f"\r{line:<72}", end="", file=sys.stderr, flush=True)
        elif stage.split(":")[0] != shown[0]:  # a log: one line per stage
            print(line, file=sys.stderr, flush=True)
        shown[0] = stage.split(":")[0]

    try:
        result = build(args.config, args.board, args.out, target_mhz=args.target_mhz,
                       baud=args.baud, timeout_ms=args.timeout_ms, seed=args.seed,
                       fit_check=not args.no_fit_check, progress=progress)
    finally:
        if live and shown[0]:
            print(file=sys.stderr)
    r = result.report
    print((result.out_dir / "build_report.txt").read_text(), end="")
    if not result.timing_met:
        missed = "; ".join(timing_failures(r)) or f"fmax {r['fmax_mhz']:.2f} MHz"
        print(f"error: timing not met: {missed} (--target-mhz lower, or another --seed); "
              f"report in {result.out_dir / 'build_report.txt'}", file=sys.stderr)
        return 1
    print(f"wrote {result.bitstream}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snnhw",
        description="Spiking neural networks on FPGAs: one TOML config to verified Verilog.")
    p.add_argument("--version", action="version", version=f"snnhw {__version__}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log progress of each stage to stderr (default: off)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("validate", help="check a config; print OK or one line per error")
    s.add_argument("config", metavar="CONFIG", help="network config (TOML)")
    s.set_defaults(func=_cmd_validate)

    s = sub.add_parser("generate", help="write Verilog, memory images and manifest")
    s.add_argument("config", metavar="CONFIG", help="network config (TOML)")
    s.add_argument("-o", "--out", default="build",
                   help="output folder (default: build)")
    s.set_defaults(func=_cmd_generate)

    s = sub.add_parser("simulate", help="run the golden model; write output spikes and state")
    s.add_argument("config", metavar="CONFIG", help="network config (TOML)")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--random", type=int, metavar="N",
                     help="random input: N timesteps of independent spikes")
    src.add_argument("--input", metavar="FILE",
                     help="input spike file: .txt (indices per line) or .npy raster")
    s.add_argument("--seed", type=int, default=0, help="seed of --random input (default: 0)")
    s.add_argument("--activity", type=float, default=0.1,
                   help="spike probability per input and timestep for --random (default: 0.1)")
    s.add_argument("-o", "--out", default=None,
                   help="output folder (default: build/simulate/<name>)")
    s.set_defaults(func=_cmd_simulate)

    s = sub.add_parser("verify",
                       help="simulate the generated Verilog with cocotb; compare with the golden "
                            "model")
    s.add_argument("config", metavar="CONFIG", help="network config (TOML)")
    s.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                   help="HDL simulator (default: verilator)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random input (default: 0)")
    s.add_argument("--timesteps", type=int, default=50,
                   help="timesteps of random input (default: 50)")
    s.add_argument("--activity", type=float, default=0.1,
                   help="spike probability per input and timestep (default: 0.1)")
    s.add_argument("--input", metavar="FILE", default=None,
                   help="input spike file instead of random input (default: none)")
    s.add_argument("-o", "--out", default=None,
                   help="work folder for Verilog, build and logs "
                        "(default: build/verify/<name>)")
    s.add_argument("--no-weights", action="store_true",
                   help="skip reading back and comparing every weight (default: compare)")
    s.add_argument("--waves", action="store_true",
                   help="dump a waveform into the work folder (default: off)")
    s.add_argument("--samples", type=int, default=10,
                   help="learning configs: dataset samples the RTL learns, checked after each "
                        "(conv networks: per learning layer) (default: 10)")
    s.add_argument("--infer-samples", type=int, default=2,
                   help="learning configs: further samples run without learning (default: 2)")
    s.add_argument("--dataset", choices=("mnist", "fashion-mnist", "caltech-facemotor"),
                   default="mnist",
                   help="learning configs: dataset (default: mnist; caltech-facemotor for "
                        "conv networks only)")
    s.add_argument("--data-dir", default=None,
                   help="learning configs: folder of the dataset (default: $SNNHW_DATA, else "
                        "the user cache)")
    s.set_defaults(func=_cmd_verify)

    data_help = ("folder holding the dataset's IDX files (default: $SNNHW_DATA, else the user "
                 "cache, downloading there when missing)")
    s = sub.add_parser("train", help="learn a dataset with the bit-exact golden model, label "
                                     "the neurons and evaluate")
    s.add_argument("config", metavar="CONFIG", help="learning network config (TOML)")
    s.add_argument("--dataset", choices=("mnist", "fashion-mnist", "caltech-facemotor"),
                   default="mnist", help="dataset (default: mnist); caltech-facemotor is for "
                                         "conv networks")
    s.add_argument("--samples", type=int, default=None,
                   help="training samples to learn from; above 60000 means several shuffled "
                        "passes (default: 60000). Conv networks take their budget per layer "
                        "from the config (stdp.images)")
    s.add_argument("--out", required=True, help="output folder for the model, plots and "
                                                "report.json")
    s.add_argument("--data-dir", default=None, help=data_help)
    s.add_argument("--seed", type=int, default=None,
                   help="seed of the training order (default: 0); for a conv network it "
                        "replaces network.seed (initial weights, image order, rounding)")
    s.add_argument("--label-samples", type=int, default=None,
                   help="training samples used to label the neurons (default: 10000); not for "
                        "conv networks, whose readout is an SVM")
    s.add_argument("--test-samples", type=int, default=None,
                   help="test samples evaluated (default: 10000); conv networks test the "
                        "whole test split")
    s.add_argument("--no-float", action="store_true",
                   help="skip the float reference run that measures quantization loss "
                        "(default: run it)")
    s.add_argument("--no-unpruned", action="store_true",
                   help="conv networks with pruning: skip the run with every tap kept that "
                        "measures the accuracy loss and the cycle speed-ups (default: run it)")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("evaluate", help="re-evaluate a model folder written by snnhw train")
    s.add_argument("model", metavar="DIR", help="folder written by snnhw train")
    s.add_argument("--data-dir", default=None, help=data_help)
    s.add_argument("--test-samples", type=int, default=None,
                   help="test samples evaluated (default: 10000; conv networks: the whole "
                        "test split)")
    s.set_defaults(func=_cmd_evaluate)

    from .boards import BOARDS

    s = sub.add_parser("program", help="load a bitstream into a board with its programmer")
    s.add_argument("bitstream", metavar="BITSTREAM", help="bitstream file (.bin for iCE40, "
                   ".bit for ECP5)")
    s.add_argument("--board", required=True, choices=sorted(BOARDS), metavar="NAME",
                   help=f"target board: {', '.join(sorted(BOARDS))}. The programmer "
                   "(iceprog or openFPGALoader) comes from $ICEPROG / $OPENFPGALOADER, else "
                   "PATH")
    s.set_defaults(func=_cmd_program)

    s = sub.add_parser("run", help="learn and classify dataset samples on a board, the "
                                   "simulated SoC or the golden model")
    s.add_argument("config", metavar="CONFIG", help="learning network config (TOML) the "
                   "bitstream was built from (a diehl_cook or ttfs_conv network)")
    s.add_argument("--backend", choices=("serial", "rtl", "golden"), default="serial",
                   help="where the network runs: a board over its serial port, the SoC's "
                        "Verilog in Verilator, or the golden model (default: serial)")
    s.add_argument("--board", choices=sorted(BOARDS), metavar="NAME", default=None,
                   help=f"board ({', '.join(sorted(BOARDS))}): gives --port its default "
                   "(default: none)")
    s.add_argument("--port", default=None,
                   help="serial port of the board, or a pyserial URL such as "
                        "socket://host:port (default: where Linux puts the board's UART, "
                        "/dev/ttyUSB0 for ulx3s-85f, else /dev/ttyUSB1)")
    s.add_argument("--baud", type=int, default=None,
                   help=f"baud rate the bitstream was built with (default: {DEFAULT_BAUD})")
    s.add_argument("--dataset", choices=("mnist", "fashion-mnist", "caltech-facemotor"),
                   default="mnist", help="dataset (default: mnist; caltech-facemotor for conv "
                   "networks only)")
    s.add_argument("--data-dir", default=None, help=data_help)
    s.add_argument("--model", metavar="DIR", default=None,
                   help="model folder written by snnhw train or snnhw run (model.npz) to load "
                        "first (default: the config's initial weights; a conv network's "
                        "initial state is written to the SoC first)")
    s.add_argument("--learn", type=int, default=0, metavar="N",
                   help="training samples to learn, in snnhw train's shuffled order; a conv "
                        "network learns up to N images in each learning layer, layer by "
                        "layer (default: 0)")
    s.add_argument("--label", type=int, default=None, metavar="N",
                   help="training samples shown without learning to label the neurons; for "
                        "a conv network, the images whose features fit the SVM readout "
                        "(default: 1000 after learning or without a labelled model, else 0)")
    s.add_argument("--infer", type=int, default=1000, metavar="N",
                   help="test samples to classify for the accuracy (default: 1000)")
    s.add_argument("--seed", type=int, default=None,
                   help="seed of the training and labelling order (default: 0; a conv "
                        "network's order comes from network.seed in its config)")
    s.add_argument("-o", "--out", default=None,
                   help="output folder for model.npz and report.json "
                        "(default: build/run/<name>)")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("build", help="synthesise, place and route the SoC of a learning config "
                                     "for a board; write the bitstream and build_report.json")
    s.add_argument("config", metavar="CONFIG", help="learning network config (TOML)")
    s.add_argument("--board", required=True, metavar="NAME",
                   help=f"target board: {', '.join(sorted(BOARDS))}")
    s.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: bitstream, build_report.json/.txt, logs, work/")
    s.add_argument("--target-mhz", type=float, default=None, metavar="F",
                   help="sync clock asked of the PLL; the closest it makes at or below is used "
                        "(default: the board's, constraints/<board>.toml)")
    s.add_argument("--baud", type=int, default=DEFAULT_BAUD, metavar="B",
                   help=f"host link baud rate (default: {DEFAULT_BAUD})")
    s.add_argument("--timeout-ms", type=float, default=20.0, metavar="MS",
                   help="frame timeout between two bytes of a request (default: 20)")
    s.add_argument("--seed", type=int, default=1, metavar="N",
                   help="nextpnr placement seed (default: 1)")
    s.add_argument("--no-fit-check", action="store_true",
                   help="synthesise even if the memory estimate exceeds the device's block RAM "
                        "(default: check first)")
    s.set_defaults(func=_cmd_build)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="snnhw: %(message)s")
    try:
        return args.func(args)
    except SnnhwError as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
