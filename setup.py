"""The one compiled part of zhplm: an optional C accelerator of jieba's word route
(src/zhplm/arch/tokenization/_jieba_route.c). ``optional=True``: where no C compiler is found the install still
succeeds and zhplm.arch.tokenization.segment uses its pure-Python route (the same words, slower).
Everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zhplm.arch.tokenization._jieba_route",
            ["src/zhplm/arch/tokenization/_jieba_route.c"],
            extra_compile_args=[
                "-O2",
                "-ffp-contract=off",
            ],  # jieba's float sums exactly: no fused multiply-add
            optional=True,
        )
    ]
)
