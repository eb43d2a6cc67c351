# `make demo`: a working two-node HAProxy cluster in the embedded lab, watched by Prometheus and
# Alertmanager on the host (127.0.0.1:9090 and :9093, with halb's alert rules).
# `make test`: the whole suite, lab included, on three Debian releases (root on Debian 12).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PACKAGES := systemd-container debootstrap apt-utils iproute2 openssh-client ipmitool haproxy \
                 resource-agents curl prometheus prometheus-alertmanager
# Only the tests need these: vagrant checks the Vagrantfile offline (no box is downloaded);
# ocf-tester validates the agent's meta-data with xmllint; the Vagrant lab test runs the real
# fence_virsh from the host.
TEST_PACKAGES := vagrant libxml2-utils fence-agents shellcheck
# The Vagrant lab: libvirt and QEMU, Vagrant and its libvirt provider, the box's tools, and an
# sshd that the lab runs for fence_virsh on the lab address only.
VAGRANT_PACKAGES := qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients dnsmasq-base \
                    vagrant vagrant-libvirt openssh-server e2fsprogs iptables $(HOST_PACKAGES)

.PHONY: demo test unit lint host-deps test-deps vagrant-deps venv down vagrant-demo vagrant-down FORCE

# RELEASE=bullseye|bookworm|trixie picks the nodes' Debian release (default bookworm);
# NODES=2..5 the cluster's size (default 2, configs/lab.yaml; else configs/lab-<N>nodes.yaml).
NODES ?= 2
LAB_CONFIG := configs/$(if $(filter 2,$(NODES)),lab.yaml,lab-$(NODES)nodes.yaml)
demo: venv host-deps .env
	$(BIN)/inv lab.up --nodes $(NODES) $(if $(RELEASE),--release $(RELEASE))
	$(BIN)/inv setup-cluster --config $(LAB_CONFIG)
	$(BIN)/inv lab.status

# The whole suite: the lab suite (all of it on bookworm, three and four nodes, the VM stage,
# then the runbook on bullseye and trixie) with, beside it, the unit suite, the node images not
# cached yet, and the unit suite again on Python 3.13 in a chroot of the trixie image (.ci/test).
test: venv host-deps test-deps .env lint
	./.ci/test

# The same cluster on two VMs with their own kernels (libvirt, TCG where KVM cannot run a guest),
# fenced by fence_virsh through the real libvirtd; ends with an answer through the VIP.
vagrant-demo: venv vagrant-deps .env
	$(BIN)/inv lab.vagrant-up
	$(BIN)/inv setup-cluster --config .vagrant/halb.yaml
	$(BIN)/inv status --config .vagrant/halb.yaml
	curl -sS --max-time 5 http://192.168.56.10/

vagrant-down: venv
	$(BIN)/inv lab.vagrant-down

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

# What the labs need on the host, from Debian's packages; installs only what is missing. No
# service starts at install time (a policy-rc.d for the install, when the host has none): the
# labs start libvirtd and their sshd themselves, on their own addresses, and stop them again.
host-deps: PACKAGES = $(HOST_PACKAGES)
test-deps: PACKAGES = $(TEST_PACKAGES) $(VAGRANT_PACKAGES)
vagrant-deps: PACKAGES = $(VAGRANT_PACKAGES)
host-deps test-deps vagrant-deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f '$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing host packages: $$missing"; \
	  policy=/usr/sbin/policy-rc.d; made=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; made=1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  rc=$$?; if [ -n "$$made" ]; then rm -f $$policy; fi; exit $$rc; \
	fi

# Lab secrets, made once each: a variable .env lacks (one a newer halb needs) is added, none is
# changed. A real cluster's secrets come from the operator (see .env.example). The lab's
# libvirt host (configs/lab-topology.yaml's second level) takes the BMCs' password.
# Hex: digits in every secret (a secret spelled like a name is refused), 16 characters for
# the BMCs (ipmitool takes at most 20).
.env: FORCE
	@umask 077; $(PYTHON) -c 'import os, re, secrets; t = secrets.token_hex; f = t(8); \
	  have = set(re.findall(r"^(?:export\s+)?(\w+)=", open(".env").read(), re.M)) if os.path.exists(".env") else set(); \
	  want = {"HACLUSTER_PASSWORD": t(12), "FENCE_PASSWORD": f, "SECOND_FENCE_PASSWORD": f, "ALERT_TOKEN_HOOK": t(16)}; \
	  new = {k: v for k, v in want.items() if k not in have}; \
	  open(".env", "a").write("".join(f"{k}={v}\n" for k, v in new.items())); \
	  new and print("lab secrets added to .env:", ", ".join(new))'

FORCE:
