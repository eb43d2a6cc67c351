# `make demo`: a working two-node HAProxy cluster in the embedded lab.
# `make test`: the whole suite, lab included, on three Debian releases (root on Debian 12).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PACKAGES := systemd-container debootstrap apt-utils iproute2 openssh-client ipmitool haproxy \
                 resource-agents curl
# Only the tests need these: vagrant checks the Vagrantfile offline (no box is downloaded);
# ocf-tester validates the agent's meta-data with xmllint.
TEST_PACKAGES := vagrant libxml2-utils

.PHONY: demo test unit lint host-deps test-deps venv down

# RELEASE=bullseye|bookworm|trixie picks the nodes' Debian release (default bookworm).
demo: venv host-deps .env
	$(BIN)/inv lab.up $(if $(RELEASE),--release $(RELEASE))
	$(BIN)/inv setup-cluster --config configs/lab.yaml
	$(BIN)/inv lab.status

# The whole suite (lab: all of it on bookworm, then the runbook on bullseye and trixie), then the
# unit suite again on Python 3.13, in a chroot of the lab's trixie image.
test: venv host-deps test-deps .env lint
	./.ci/pytest
	./.ci/controller-python313

unit: venv
	$(BIN)/pytest tests/unit

lint: venv
	$(BIN)/ruff check .

down: venv
	$(BIN)/inv lab.down

venv: $(VENV)/.installed

# Debian's python3 makes virtual environments only with python3-venv installed.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# What the lab needs on the host, from Debian's packages; installs only what is missing.
host-deps test-deps: PACKAGES = $(if $(filter test-deps,$@),$(TEST_PACKAGES),$(HOST_PACKAGES))
host-deps test-deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f '$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing host packages: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Lab secrets, made once; a real cluster's secrets come from the operator (see .env.example).
# The lab's libvirt host (configs/lab-topology.yaml's second level) takes the BMCs' password.
.env:
	@umask 077; $(PYTHON) -c 'import secrets; t = secrets.token_urlsafe; f = t(12); print(f"HACLUSTER_PASSWORD={t(18)}\nFENCE_PASSWORD={f}\nSECOND_FENCE_PASSWORD={f}")' > $@
	@echo "wrote lab secrets to .env"
