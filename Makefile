# pushcap — every target sets up what it needs: a fresh machine needs only python3 and make.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
DEMO    ?= captures/synthetic/founding-case.pcap

.PHONY: setup system-deps demo lint test check captures golden clean bench bench-audit fuzz

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(STAMP) system-deps

# Debian packages the tests use (command:package): tshark for the Wireshark cross-check,
# tcpdump (and its libpcap, which scapy needs to compile capture filters), nftables,
# iproute2 and util-linux (setpriv) for the live-capture tests in network namespaces;
# docker-registry, skopeo and openssl for the lab's end-to-end test (real registry and client).
# Installed with apt-get when missing and running as root; otherwise those tests skip and say why.
system-deps:
	@missing=""; for p in tshark:tshark tcpdump:tcpdump nft:nftables ip:iproute2 setpriv:util-linux \
	    docker-registry:docker-registry skopeo:skopeo openssl:openssl; do \
	  command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "note:$$missing not installed (tests that need it will skip): sudo apt-get install$$missing"; \
	  fi; \
	fi

# Run the main job on a shipped capture. pushcap exits 1 when it finds a problem: that is the demo.
demo: $(STAMP)
	$(VENV)/bin/pushcap analyze $(DEMO) || [ $$? -eq 1 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check analyzer tests captures bench lab fuzz
	$(VENV)/bin/ruff format --check analyzer tests captures bench lab fuzz
	$(VENV)/bin/mypy --strict analyzer

test: setup
	$(VENV)/bin/pytest -q

check: lint test

# Regenerate the synthetic captures (byte for byte identical) and the golden reports.
captures: $(STAMP)
	$(PY) captures/synthetic/generate.py

golden: $(STAMP)
	$(PY) -m tests.golden_update

# Speed and memory against tshark, tcpdump and cat on generated captures of ~200 MB and ~2 GB
# (prints a table and the ratios; nothing is asserted). BENCH_ARGS='--sizes small' for a quick run.
BENCH_ARGS ?=
bench: $(STAMP) system-deps
	$(PY) bench/run.py $(BENCH_ARGS)

# Audit throughput: 1,000 small and 20 large generated captures, --jobs 1 vs 2 (prints figures).
bench-audit: $(STAMP)
	$(PY) bench/audit_bench.py

# Coverage-guided fuzzing of the whole pipeline (atheris), seeded from the committed captures.
FUZZ_TIME ?= 300
fuzz: $(STAMP)
	$(PY) -c 'import atheris' 2>/dev/null || $(PY) -m pip install -q 'atheris>=2.3'
	mkdir -p fuzz/corpus fuzz/crashes
	$(PY) fuzz/fuzz_pipeline.py fuzz/corpus captures/broken captures/synthetic captures/real \
	  captures/secrets fuzz/regressions -dict=fuzz/pushcap.dict -max_total_time=$(FUZZ_TIME) \
	  -max_len=65536 -timeout=10 -rss_limit_mb=1024 -artifact_prefix=fuzz/crashes/

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

include lab/Makefile.inc
