# Wattson: build, test and run the kit. `make help` lists every target.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
BIN ?= $(ROOT)/bin
export WATTSON_BIN := $(BIN)
# The module proxy alone: a refusal then says so instead of failing over to a direct fetch.
export GOPROXY ?= https://proxy.golang.org
export KUBEBUILDER_ASSETS := $(BIN)

GO ?= go
GOTEST_FLAGS ?=
CONTROLLER_GEN := $(BIN)/controller-gen
SQLC := $(BIN)/sqlc
GOLANGCI_LINT := $(BIN)/golangci-lint
KUSTOMIZE := $(BIN)/kustomize
HELM := $(BIN)/helm
PROMTOOL := $(BIN)/promtool

# What --version and wattson_build_info report (hack/ldflags.sh): the git tag, or the commit.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
export VERSION
# VERSION passed explicitly: make before 4.4 does not export variables to $(shell).
LDFLAGS ?= $(shell VERSION=$(VERSION) hack/ldflags.sh)
# The image: `make docker-build` stamps the same build into it and into its OCI labels.
IMG ?= ghcr.io/wattson-dev/wattson:$(VERSION)
CONTAINER_TOOL ?= docker

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the operator's kubebuilder markers.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./operator/api/... output:crd:artifacts:config=operator/config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=wattson-operator paths=./operator/... output:rbac:artifacts:config=operator/config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) $(SQLC) ## Generate DeepCopy methods and the sqlc database code.
	$(CONTROLLER_GEN) object paths=./operator/api/...
	cd runtime && $(SQLC) generate

.PHONY: helm-chart
helm-chart: $(KUSTOMIZE) ## Generate the Helm chart charts/wattson from the kustomize sources (hack/helmchart).
	@$(GO) run ./hack/helmchart --kustomize $(KUSTOMIZE)

.PHONY: fmt
fmt: ## Run gofmt on every Go file.
	gofmt -s -w $$(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: vet $(GOLANGCI_LINT) ## Check formatting, vet, golangci-lint (.golangci.yml), and that no focused or pending spec is committed.
	@bad=$$(gofmt -s -l $$(git ls-files '*.go')); \
	  if [ -n "$$bad" ]; then echo "not gofmt'ed (run 'make fmt'):"; echo "$$bad"; exit 1; fi
	@if git grep -nE '\b(FIt|FDescribe|FContext|FWhen|FEntry|PIt|PDescribe|XIt)\(' -- 'specs/*.go' 'specs/**/*.go'; then \
	  echo "focused or pending specs found: remove the F/P prefix"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

# The energy suite (./specs itself) asserts a live system: it runs in e2e, through the runtime.
TEST_PKGS = $$($(GO) list ./... | grep -vx 'github.com/wattson-dev/wattson/specs')
# Everything but the suite and the loopback end-to-end test (./e2e, `make test-e2e`).
UNIT_PKGS = $$($(GO) list ./... | grep -vx -e 'github.com/wattson-dev/wattson/specs' -e 'github.com/wattson-dev/wattson/e2e')

.PHONY: test
test: test-unit test-e2e ## Run every test against the real binaries in bin/ (test-unit, then test-e2e), then lint and verify.
	$(MAKE) -s lint verify

.PHONY: test-unit
test-unit: tools-check build ## Run every test but the loopback end-to-end one, against the real binaries in bin/.
	$(GO) test $(GOTEST_FLAGS) -count=1 $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: tools-check build ## Run the loopback end-to-end test (./e2e): the whole chain, green specs, every fault paged.
	$(GO) test $(GOTEST_FLAGS) -count=1 ./e2e/

.PHONY: test-longterm
test-longterm: tools-check build ## Prove the long-term overlay: Prometheus remote-writes to a real VictoriaMetrics, kWh per rack equals the simulator's integral (builds VictoriaMetrics; not in make test).
	hack/tools.sh victoriametrics
	WATTSON_LONGTERM=1 $(GO) test $(GOTEST_FLAGS) -count=1 -v -run TestLongTermEnergyMatchesSimulator ./internal/stack/

.PHONY: test-rollouts
test-rollouts: tools-check ## Argo Rollouts' real analysis controller on AnalysisRuns of monitoring/progressive-delivery (root: in a network namespace of its own, the controller binds every address; not in make test).
	unshare --net sh -c 'ip link set lo up && ip link add wattson-va type veth peer name wattson-vb && \
	  ip addr add 198.18.255.77/32 dev wattson-va && ip link set wattson-va up && ip link set wattson-vb up && \
	  ip route add default dev wattson-va && \
	  WATTSON_ARGO_NETNS=1 $(GO) test $(GOTEST_FLAGS) -count=1 -v -run TestArgoRolloutsControllerAnalysisRuns ./monitoring/'

.PHONY: e2e
e2e: tools-check build ## test-e2e, verbose: prints each step and the table of alert latencies beside their bounds.
	$(GO) test $(GOTEST_FLAGS) -count=1 -v ./e2e/

.PHONY: test-short
test-short: ## Run only the tests that need no real component (fast).
	$(GO) test -short $(TEST_PKGS)

.PHONY: verify
GENERATED := operator/config/crd/bases operator/config/rbac operator/api runtime/internal/store/db charts/wattson

verify: ## Regenerate everything and fail if the tree changed.
	@$(MAKE) -s manifests generate helm-chart
	@for p in $(GENERATED); do [ -d $$p ] || { echo "verify: $$p is missing: a generated path moved; update GENERATED in the Makefile"; exit 1; }; done
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  git status --porcelain -- $(GENERATED); \
	  echo "generated files are stale: run 'make manifests generate helm-chart' and commit the result"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }
	@echo "verify: generated code, manifests and go.mod are up to date"

.PHONY: fuzz
fuzz: ## Run every Fuzz* target for FUZZTIME each (default 30s); keeps and prints any crashing input.
	hack/fuzz.sh

.PHONY: bench
bench: tools-check build ## Run the benchmarks and print ratios against the reference implementations.
	$(GO) test -run '^$$' -bench . -benchmem ./...
	mocks/bench/bench.sh

##@ Build

.PHONY: build
build: ## Build Wattson's binaries and the compiled spec suite into bin/.
	@mkdir -p $(BIN)
	@for d in operator:wattson-operator runtime:wattson-runtime mocks:wattson-snmpsim; do \
	  src=$${d%%:*}; out=$${d##*:}; \
	  CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$$out ./$$src; echo "built bin/$$out ($(VERSION))"; \
	done
	@CGO_ENABLED=0 $(GO) test -c -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/specs.test ./specs && echo "built bin/specs.test"

.PHONY: release-manifests
release-manifests: ## Point every shipped manifest and doc at release VERSION (make release-manifests VERSION=v0.2.0).
	@[[ "$(VERSION)" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$ ]] || { echo "VERSION=$(VERSION) is not vX.Y.Z"; exit 1; }
	@old=$$(sed -n 's/^ *newTag: *\(v[0-9].*\)$$/\1/p' kustomization.yaml | head -1); \
	  files=$$(git grep -lE "newTag: $$old|wattson-dev/wattson[^ ]*\?ref=$$old" -- '*.yaml' '*.md'); \
	  sed -i -e "s/newTag: $$old\$$/newTag: $(VERSION)/" -e "s/?ref=$$old\b/?ref=$(VERSION)/g" $$files; \
	  echo "release $$old -> $(VERSION) in:" $$files
	@# The chart's version, appVersion and image tags follow the manifests.
	@$(MAKE) -s helm-chart

.PHONY: docker-build
docker-build: ## Build the image $(IMG), stamped with the version and OCI labels (needs Docker or podman).
	$(CONTAINER_TOOL) build -t $(IMG) \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) \
	  --build-arg BRANCH=$$(git rev-parse --abbrev-ref HEAD) \
	  --build-arg BUILD_DATE=$$(git log -1 --format=%cd --date=format:%Y%m%d-%H:%M:%S) \
	  --build-arg CREATED=$$(git log -1 --format=%cI) .

.PHONY: run
run: manifests generate ## Run the operator against the cluster in your current kubeconfig.
	$(GO) run ./operator

.PHONY: mibs
mibs: ## Fetch the MIBs the sample models need (hack/mibs/sources.txt, sha256-checked) into ~/.cache/wattson/mibs.
	@mkdir -p $(BIN) && $(GO) build -o $(BIN)/wattson-mibs ./hack/mibs && $(BIN)/wattson-mibs

# Before the tools: without MIBs the demo cannot start, and says what to run at once.
.PHONY: mibs-check
mibs-check:
	@mkdir -p $(BIN) && $(GO) build -o $(BIN)/wattson-mibs ./hack/mibs && $(BIN)/wattson-mibs --check >/dev/null

.PHONY: demo
demo: mibs-check tools build ## Run the whole chain on loopback (PDUs, operator, simulator, exporter, Prometheus, alerts).
	@$(GO) build -o $(BIN)/wattson-demo ./hack/demo
	@# exec: Ctrl-C reaches the demo itself, which stops everything and exits 0.
	@exec $(BIN)/wattson-demo

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster in your current kubeconfig.
	$(KUSTOMIZE) build operator/config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build operator/config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the whole kit (kustomization.yaml) to the cluster, its CRDs established first (the energy Suite needs its own).
	$(KUSTOMIZE) build operator/config/crd | kubectl apply --server-side -f -
	kubectl wait --for=condition=Established --timeout=60s crd/suites.wattson.dev crd/pdus.wattson.dev crd/pdumodels.wattson.dev
	$(KUSTOMIZE) build . | kubectl apply --server-side -f -

DIST ?= $(ROOT)/dist

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Write dist/install.yaml: the whole kit (kustomization.yaml) in one file, at the release it names.
	@mkdir -p $(DIST)
	@$(KUSTOMIZE) build . >$(DIST)/install.yaml.tmp && mv $(DIST)/install.yaml.tmp $(DIST)/install.yaml
	@echo "wrote $(DIST)/install.yaml: $$(grep -c '^kind:' $(DIST)/install.yaml) objects; apply with kubectl apply --server-side -f (prometheus-operator's CRDs first; a first apply on a new cluster refuses the energy Suite until its CRD is established: apply twice)"

.PHONY: helm-package
helm-package: helm-chart $(HELM) ## Write dist/wattson-<version>.tgz: the Helm chart (charts/wattson), linted, for helm install or a chart repository.
	@mkdir -p $(DIST)
	@$(HELM) lint --strict charts/wattson >/dev/null
	@$(HELM) package charts/wattson --destination $(DIST)

##@ Real-shaped single-node cluster in its own network namespace (root; hack/cluster, hack/cluster/kit)

CLUSTER_DIR ?= /var/lib/wattson-cluster
export WATTSON_CLUSTER_DIR := $(CLUSTER_DIR)

.PHONY: cluster-tools
cluster-tools: ## Build kubelet, kube-controller-manager, kube-scheduler, kube-proxy, CoreDNS, kube-router (the NetworkPolicy enforcer), the config reloader and Argo Rollouts' controller too (cached).
	hack/tools.sh etcd kube-apiserver kube-cluster kube-proxy coredns kube-router prometheus prometheus-config-reloader alertmanager snmp_exporter prometheus-operator kustomize skaffold argo-rollouts

.PHONY: cluster-up
cluster-up: cluster-tools ## Start the node (idempotent) and import the kit's images; prints the KUBECONFIG, DOCKER_HOST and SKAFFOLD_CONFIG to export.
	hack/cluster/cluster.sh up
	hack/cluster/images.sh

.PHONY: cluster-down
cluster-down: ## Stop the node and check that no process, mount, cgroup, netns, veth, route, nftables table, iptables chain, ipset or host path is left.
	hack/cluster/cluster.sh down

.PHONY: cluster-helm
cluster-helm: cluster-tools $(HELM) ## From nothing: node up, helm install of charts/wattson (images from hack/cluster/images.sh), every workload rolled out, targets up, energy specs green, helm upgrade to two runtime replicas over PostgreSQL, helm uninstall, node down.
	WATTSON_CLUSTER_HELM=1 $(GO) test -count=1 -v -timeout 45m -run TestClusterHelm ./e2e/cluster/

.PHONY: netpol-smoke
netpol-smoke: ## The kit's NetworkPolicies against the cluster's enforcer (kube-router), a real apiserver and network namespaces, no node: about a minute.
	hack/tools.sh etcd kube-apiserver kube-router
	hack/cluster/netpol-smoke.sh

.PHONY: cluster-e2e
cluster-e2e: cluster-tools ## From nothing: node up, skaffold build/deploy/verify (default install), targets up, the energy Suite in 2 replicas, a fault paged, a Rollout gated, NetworkPolicies probed, tenant RBAC, the skaffold dev loop timed, census, node down.
	WATTSON_CLUSTER_E2E=1 $(GO) test -count=1 -v -timeout 45m ./e2e/cluster/

.PHONY: cluster-devloop
cluster-devloop: cluster-tools ## From nothing: node up, skaffold run, then the skaffold dev loop against its budgets (60 s to the first result, 5 s from save to result), failing over either; census, node down (about 4 minutes).
	WATTSON_CLUSTER_E2E=1 WATTSON_CLUSTER_DEVLOOP=1 $(GO) test -count=1 -v -timeout 30m \
	  -run 'TestCluster$$/^(up|skaffold_run|port-forwards|pods_ready.*|skaffold_dev.*|nothing_sent.*|down_leaves_nothing)$$' ./e2e/cluster/

##@ Tools

.PHONY: tools
tools: ## Build pinned kube-apiserver, etcd, Prometheus, Alertmanager, snmp_exporter, ... into bin/ (cached).
	hack/tools.sh

.PHONY: tools-check
tools-check: ## Fail fast, naming `make tools`, when bin/ lacks a tool the tests need.
	@missing=""; for b in kube-apiserver etcd kubectl prometheus promtool alertmanager amtool snmp_exporter prometheus-operator controller-gen kustomize helm sqlc skaffold golangci-lint argo-measure flagger-check; do \
	  [ -x $(BIN)/$$b ] || missing="$$missing $$b"; done; \
	  if [ -n "$$missing" ]; then echo "missing in bin/:$$missing; run 'make tools' first"; \
	  [ "$$CI" = true ] && exit 1 || echo "(tests that need them will be skipped)"; fi

$(BIN)/%:
	hack/tools.sh $(notdir $@)

.PHONY: clean
clean: ## Remove bin/ (the tool cache in ~/.cache/wattson/tools stays).
	rm -rf $(BIN)
