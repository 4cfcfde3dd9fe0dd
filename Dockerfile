# syntax=docker/dockerfile:1
#
# One image for all of Wattson: the operator, the spec runtime, the SNMP simulator and the compiled
# spec suite, on distroless, non-root. Manifests pick the binary with `command`.
#
#   make docker-build                                              # the release image, versioned
#   docker build -t ghcr.io/wattson-dev/wattson .                  # the same, reporting "devel"
#   docker build --target dev -t ghcr.io/wattson-dev/wattson-dev . # skaffold dev's watch loop
#
# The `dev` target keeps the Go toolchain, the module cache and the source in /src: the runtime
# in dev mode (--dev.watch-dir=/src --dev.package=./specs) rebuilds the suite when skaffold syncs
# an edited spec in, and reruns it.

ARG GO_VERSION=1.26.8
# The build (hack/ldflags.sh; `make docker-build` passes them from git, which the context lacks):
# --version, wattson_build_info and the OCI labels report them.
ARG VERSION=devel
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=unknown
ARG CREATED

# Modules first, so that editing a source file does not download them again.
FROM golang:${GO_VERSION} AS modules
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN go mod download

FROM modules AS build
ARG VERSION REVISION BRANCH BUILD_DATE
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    export VERSION REVISION BRANCH BUILD_DATE BUILD_USER=docker && \
    LDFLAGS=$(hack/ldflags.sh) && \
    go build -trimpath -ldflags "$LDFLAGS" -o /out/wattson-operator ./operator && \
    go build -trimpath -ldflags "$LDFLAGS" -o /out/wattson-runtime ./runtime && \
    go build -trimpath -ldflags "$LDFLAGS" -o /out/wattson-snmpsim ./mocks && \
    go test -c -trimpath -ldflags "$LDFLAGS" -o /out/specs.test ./specs

# The watch loop of `skaffold dev`. Runs as 65532 like the release image; /src and the Go caches
# belong to it, so file sync and rebuilds work without root.
FROM golang:${GO_VERSION} AS dev
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOCACHE=/home/dev/.cache/go-build GOMODCACHE=/home/dev/go/pkg/mod HOME=/home/dev
RUN install -d -o 65532 -g 65532 /src /home/dev
USER 65532:65532
WORKDIR /src
COPY --chown=65532:65532 go.mod go.sum ./
RUN go mod download
COPY --chown=65532:65532 . .
# Build once so the first rebuild in the pod is incremental.
RUN go build -o /home/dev/bin/wattson-runtime ./runtime && \
    go test -c -o /tmp/specs.test ./specs
ENV PATH=/home/dev/bin:$PATH
EXPOSE 9464
ENTRYPOINT ["wattson-runtime", "--dev.watch-dir=/src", "--dev.package=./specs", "--specs.binary=/tmp/specs.test", "--web.listen-address=:9464"]

# The release image (the last stage, so a plain `docker build` makes it).
FROM gcr.io/distroless/static:nonroot AS release
ARG VERSION REVISION CREATED
LABEL org.opencontainers.image.title="wattson" \
      org.opencontainers.image.description="Wattson: the operator, the spec runtime, the SNMP PDU simulator and the compiled energy suite" \
      org.opencontainers.image.source="https://github.com/wattson-dev/wattson" \
      org.opencontainers.image.url="https://github.com/wattson-dev/wattson" \
      org.opencontainers.image.vendor="Wattson" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/ /
# The simulator's recorded PDUs (mocks/config runs it with --data-dir=/data/snmpsim).
COPY mocks/data/ /data/snmpsim/
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/wattson-runtime"]
CMD ["--specs.binary=/specs.test", "--web.listen-address=:9464"]
