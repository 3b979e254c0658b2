"""The installed library: `make install PREFIX=...` puts the header, both
libraries, the CLI and paw.pc in place; a C program built with
`pkg-config --cflags --libs paw` links libpaw.so and runs; the shared object
has a versioned SONAME and exports the public API and nothing else."""

import os
import re
import subprocess
import textwrap

from conftest import BUILD, ROOT, STORIES

EXAMPLE = textwrap.dedent(r"""
    #include <paw.h>
    #include <stdio.h>
    #include <string.h>

    int main(int argc, char **argv)
    {
        paw_model *m = NULL;
        if (paw_model_load(argv[1], &m) != PAW_OK) { fprintf(stderr, "%s\n", paw_last_error()); return 1; }
        paw_tokenizer *tok = NULL;
        if (paw_tokenizer_from_gguf(paw_model_gguf(m), &tok) != PAW_OK) return 1;
        int32_t *ids = NULL;
        size_t n = 0;
        const char *text = "Once upon a time";
        if (paw_tokenize(tok, text, strlen(text), 1, 0, &ids, &n) != PAW_OK) return 1;
        char *back = NULL;
        size_t len = 0;
        if (paw_detokenize(tok, ids, n, 0, &back, &len) != PAW_OK) return 1;
        printf("%s %s %zu %s\n", PAW_VERSION, paw_model_arch(m), n, back);
        paw_free(back);
        paw_free(ids);
        paw_tokenizer_free(tok);
        paw_model_free(m);
        return argc == 2 ? 0 : 2;
    }
""")


def header_functions():
    with open(os.path.join(ROOT, "include", "paw.h"), encoding="utf-8") as f:
        return set(re.findall(r"PAW_API\s+[^;(]*?\b(paw_\w+)\s*\(", f.read()))


def test_install_and_build_with_pkg_config(tmp_path):
    prefix = tmp_path / "prefix"
    env = dict(os.environ, BUILD=os.path.relpath(BUILD, ROOT))
    r = subprocess.run(["make", "-C", ROOT, "install", f"PREFIX={prefix}", f"BUILD={env['BUILD']}"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in ["bin/paw", "include/paw.h", "lib/libpaw.a", "lib/libpaw.so", "lib/libpaw.so.0",
                "lib/pkgconfig/paw.pc"]:
        assert (prefix / rel).exists(), rel
    assert os.path.realpath(prefix / "lib" / "libpaw.so").endswith("libpaw.so.0.1.0")

    src = tmp_path / "example.c"
    src.write_text(EXAMPLE)
    env["PKG_CONFIG_PATH"] = str(prefix / "lib" / "pkgconfig")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "paw"], capture_output=True, text=True, env=env)
    assert flags.returncode == 0, flags.stderr
    assert f"-I{prefix}/include" in flags.stdout and "-lpaw" in flags.stdout
    exe = tmp_path / "example"
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", str(src), "-o", str(exe), *flags.stdout.split(),
                         f"-Wl,-rpath,{prefix}/lib"], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    # It runs against the installed shared object, not a static copy.
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert f"{prefix}/lib/libpaw.so.0" in ldd, ldd
    run = subprocess.run([str(exe), STORIES], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0.1.0 llama 5 Once upon a time", run.stdout


def test_shared_object_exports_only_the_api():
    so = os.path.realpath(os.path.join(BUILD, "libpaw.so"))
    dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
    assert "Library soname: [libpaw.so.0]" in dyn, dyn
    nm = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in nm.splitlines() if line.split()[1] in "TtDdBbRrWwVvi"}
    api = header_functions()
    assert exported == api, (f"exported but not in paw.h: {sorted(exported - api)}; "
                             f"in paw.h but not exported: {sorted(api - exported)}")


def test_pip_install_builds_and_ships_libpaw(tmp_path):
    """`pip install ./python` runs the Makefile and ships libpaw.so.0 inside
    the package: the installed pawc works with no PAWC_LIB and no checkout on
    its path.  (Offline: setuptools and wheel come from the interpreter that
    runs the tests, see tests/requirements.txt; --target keeps it out of
    that interpreter's site-packages.)"""
    import sys
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation",
                          "--target", str(target), os.path.join(ROOT, "python")], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PAWC_LIB", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    code = ("import pawc, pawc._ffi as f; print(f.lib()._name); "
            f"print(pawc.function(None, base={STORIES!r}, max_tokens=5)('Once upon a time'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr
    lib_path, text = run.stdout.splitlines()
    assert lib_path == str(target / "pawc" / "libpaw.so.0")
    assert text == ", there was a little"   # stories260K's greedy continuation, as `paw run --base` gives
