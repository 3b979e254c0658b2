"""Builds libpaw.so with the repository's Makefile and ships it inside the
package (pawc/libpaw.so.0), so that `pip install ./python` needs nothing but
the C toolchain and paw's build dependencies (`make deps`)."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class BuildWithLibpaw(build_py):
    def run(self):
        jobs = str(os.cpu_count() or 1)
        subprocess.run(["make", "-C", ROOT, "-j" + jobs, "build/libpaw.so"], check=True)
        real = os.path.realpath(os.path.join(ROOT, "build", "libpaw.so"))
        shutil.copyfile(real, os.path.join(HERE, "pawc", "libpaw.so.0"))
        super().run()


setup(cmdclass={"build_py": BuildWithLibpaw})
