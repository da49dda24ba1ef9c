# callbridge on Debian bookworm: build stage, then a slim runtime image.
#   docker build -t callbridge .
#   docker run --rm --network host callbridge            # demo settings
#   docker run --rm --network host -v /etc/callbridge:/etc/callbridge \
#       callbridge --config /etc/callbridge/callbridge.conf
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libre-dev libwebsockets-dev libev-dev \
        libsrtp2-dev libopus-dev libspeexdsp-dev libjansson-dev libssl-dev \
        python3 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build -j"$(nproc)" --target callbridge callbridgectl echo-agent

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libre0 libwebsockets17 libwebsockets-evlib-ev libev4 libsrtp2-1 \
        libopus0 libspeexdsp1 libjansson4 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/gateway/callbridge /build/gateway/callbridgectl \
     /build/examples/echo-agent /usr/local/bin/
COPY config/ /etc/callbridge/
# SIP and the default RTP range; the demo listens on loopback only, so give
# the container your own settings (sip_listen 0.0.0.0) for real traffic;
# behind NAT or with published ports, set sip_advertise and rtp_advertise
# to the host's public address too.
EXPOSE 5060/udp 5060/tcp 20000-29999/udp
ENTRYPOINT ["/usr/local/bin/callbridge"]
CMD ["--config", "/etc/callbridge/callbridge.conf"]
