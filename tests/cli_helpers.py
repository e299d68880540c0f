"""What the command-line tests share: a tiny network's training arguments, a run that captures the
output, and the check of a one-line user error (exit status 2, ``minidl: error: ...``, no traceback)."""
from nets import cli


def tiny(num_train, num_val):
    """The arguments of a training small enough for a test: ResNet-18 at 1/16 width on 16x16 images."""
    return ["--net", "resnet18", "--width", "0.0625", "--image-size", "16", "--num-train", str(num_train),
            "--num-val", str(num_val), "--batch-size", "16", "--no-progress"]


def run(argv, capsys):
    """(exit status, stdout, stderr) of the command line ``argv``."""
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code, err, *needles):
    """The run ended in a user error: status 2, one ``minidl: error:`` line holding every needle."""
    assert code == 2 and err.count("\n") == 1 and err.startswith("minidl: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
