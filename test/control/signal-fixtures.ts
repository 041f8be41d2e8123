// WebRTC signalling fixtures shared by the signalling tests: a data-channel offer as Chromium
// writes it and ICE candidates of every type, as RTCIceCandidate.candidate gives them.

export const FINGERPRINT =
  "6B:8F:0E:3A:C2:91:5D:7E:A4:10:FF:2B:88:C9:03:D6:5A:E7:19:4C:B0:72:3F:9D:E1:06:8A:27:C5:5B:94:D3";

/** A data-channel offer as Chromium writes it from createDataChannel + createOffer. */
export const CHROMIUM_OFFER = [
  "v=0",
  "o=- 4215775240449105457 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=extmap-allow-mixed",
  "a=msid-semantic: WMS",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "c=IN IP4 0.0.0.0",
  "a=ice-ufrag:Zx9q",
  "a=ice-pwd:fPq3vR8kLm2Nw7YtB5cXh1Jd",
  "a=ice-options:trickle",
  `a=fingerprint:sha-256 ${FINGERPRINT}`,
  "a=setup:actpass",
  "a=mid:0",
  "a=sctp-port:5000",
  "a=max-message-size:262144",
];

/** Candidates: Chromium host, mDNS host, srflx, IPv6 host, relay, werift host, minimal prflx. */
export const CANDIDATES = [
  "candidate:2437072876 1 udp 2122260223 192.168.1.20 55616 typ host generation 0 ufrag abcd network-id 1",
  "candidate:1840965416 1 udp 2113937151 3c5b9a1e-7f2d-4c8a-9e61-0b2d4f6a8c13.local 54321 typ host generation 0 ufrag Zx9q network-cost 999",
  "candidate:842163049 1 udp 1677729535 203.0.113.7 61234 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Zx9q network-id 1 network-cost 10",
  "candidate:3019574836 1 udp 2122262783 2001:db8:85a3::8a2e:370:7334 50210 typ host generation 0 ufrag Zx9q network-id 2",
  "candidate:1234567890 1 udp 41885439 198.51.100.4 3478 typ relay raddr 203.0.113.7 rport 61234 generation 0 ufrag Zx9q network-id 1",
  "candidate:5b0c7f1e8d 1 UDP 2130706431 192.168.1.30 50123 typ host",
  "candidate:a+/Z 2 udp 1 ::1 0 typ prflx",
];

/** The Chromium offer as one SDP text (CRLF after every line). */
export const OFFER = CHROMIUM_OFFER.map((line) => `${line}\r\n`).join("");

/** A Chromium host candidate. */
export const CANDIDATE = CANDIDATES[0]!;
