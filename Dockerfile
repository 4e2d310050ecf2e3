# Build stage: the same ./build.sh a developer runs (fetches, verifies and
# builds mbedTLS and cJSON from Debian source packages, links a static binary).
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./build.sh && install -D -m 0555 build/interview /out/interview

# Final stage: nothing but the binary. CA certificates are compiled in.
FROM scratch
COPY --from=build /out/interview /interview
USER 65534:65534
EXPOSE 8000
ENV HOST=0.0.0.0 PORT=8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/interview", "--healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/interview"]
