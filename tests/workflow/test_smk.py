"""The rule scripts' glue (regwas.smk.run_script): the log file gets everything, the terminal
warnings and errors only; a user-caused error is one line and a failed job."""

import logging
from types import SimpleNamespace

import pytest

from regwas.errors import InputError
from regwas.smk import run_script


def test_log_file_gets_everything_stderr_only_warnings(tmp_path, capfd):
    log = tmp_path / "job.log"
    smk = SimpleNamespace(log=[str(log)], rule="demo")

    def main(_):
        logging.getLogger("regwas.x").info("details for the log")
        logging.getLogger("regwas.x").warning("something to see")

    run_script(smk, main)
    err = capfd.readouterr().err
    assert "something to see" in err and "details for the log" not in err
    text = log.read_text()
    assert "details for the log" in text and "something to see" in text

    def bad(_):
        raise InputError("samples.tsv line 6: column 'age'")

    with pytest.raises(SystemExit) as exc:
        run_script(smk, bad)
    assert exc.value.code == 1
    assert "rule demo: samples.tsv line 6" in capfd.readouterr().err
    assert "rule demo: samples.tsv line 6" in log.read_text()
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
