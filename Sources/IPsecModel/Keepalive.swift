import XFRMWire

extension LiveModel {
    /// `keepaliveVerdict` for `key` with what this model knows besides the peer's own figures: the
    /// keepalives seen on the wire for it (by peer, else by address pair), the capture's state and
    /// the configuration.
    func keepaliveVerdict(peer key: PeerKey, encapsulation: EncapsulationType?, kernelInterval: UInt32?,
                          inboundLastUsed: ModelTime?, outboundLastUsed: ModelTime?, at now: ModelTime) -> KeepaliveStatus {
        let track = keepaliveByPeer.isEmpty && keepaliveByAddresses.isEmpty ? nil
            : keepaliveByPeer[key] ?? keepaliveByAddresses[AddressPair(local: key.local, remote: key.remote)]
        return LiveModel.keepaliveVerdict(encapsulation: encapsulation, peer: key, kernelInterval: kernelInterval,
                                          track: track, inboundLastUsed: inboundLastUsed,
                                          outboundLastUsed: outboundLastUsed, capture: captureState,
                                          captureSince: captureSince, configuration: configuration, now: now)
    }

    /// Keepalive status of a NAT-T peer from (a) the kernel interval attribute, (b) keepalives seen on
    /// the wire, (c) XFRMA_LASTUSED. Traffic counts as keepalive: both the kernel and the IKE daemons
    /// send keepalives only when the SA has been idle for the interval.
    ///
    /// - ESP-in-UDP only; otherwise NONE.
    /// - Interval: the kernel's when present, else the spacing of keepalives seen on the wire.
    /// - Capture running and interval known: LATE when a direction that carries keepalives
    ///   (sent: kernel interval set or keepalives seen sent; received: keepalives seen received)
    ///   has had neither a keepalive nor traffic for more than `keepaliveLateFactor` x interval; else OK.
    /// - Capture running, no interval: UNKNOWN until a spacing is seen; NONE after
    ///   `keepaliveNoneAfter` seconds of capture without any keepalive.
    /// - No capture: OK with the kernel interval (not observable), else UNKNOWN; says why.
    static func keepaliveVerdict(encapsulation: EncapsulationType?, peer: PeerKey, kernelInterval: UInt32?,
                                 track: KeepaliveTrack?, inboundLastUsed: ModelTime?, outboundLastUsed: ModelTime?,
                                 capture: CaptureAvailability, captureSince: ModelTime?,
                                 configuration: ModelConfiguration, now: ModelTime) -> KeepaliveStatus {
        let active: Bool
        if case .active = capture { active = true } else { active = false }
        let inboundIdle = inboundLastUsed.map { max(0, now - $0) }
        var status = KeepaliveStatus(state: .unknown, reason: "", kernelInterval: kernelInterval,
                                     lastSent: track?.lastSent, lastReceived: track?.lastReceived,
                                     inboundIdle: inboundIdle, captureActive: active)
        guard let type = encapsulation else {
            status.state = .none
            status.reason = "no UDP encapsulation: NAT-T keepalives do not apply"
            return status
        }
        if type == .espInTCP {
            status.state = .none
            status.reason = "ESP-in-TCP: NAT-T keepalives do not apply"
            return status
        }
        let remote = "\(peer.remote)" + (peer.remotePort != 0 ? ":\(peer.remotePort)" : "")
        let observed = [track?.sentGap, track?.receivedGap].compactMap { $0 }.min()
        if let k = kernelInterval {
            status.interval = Double(k)
            status.intervalSource = .kernel
        } else if let o = observed {
            status.interval = o
            status.intervalSource = .observed
        }
        let idleText = inboundIdle.map { "; inbound idle \(secs($0))" } ?? ""

        guard active else {
            let why: String
            if case .unavailable(let r) = capture { why = "keepalive capture unavailable (\(r))" }
            else { why = "keepalive capture not running" }
            if let k = kernelInterval {
                status.state = .ok
                status.reason = "kernel sends keepalives after \(k) s idle (\(why): not observed)\(idleText)"
            } else {
                status.state = .unknown
                status.reason = "\(why) and no kernel keepalive interval\(idleText)"
            }
            return status
        }

        guard let interval = status.interval else {
            if let t = max(track?.lastSent ?? -.infinity, track?.lastReceived ?? -.infinity) as Double?, t.isFinite {
                status.state = .unknown
                status.reason = "one keepalive seen \(secs(now - t)) ago; interval not known yet"
            } else {
                let watched = now - (captureSince ?? now)
                let lastTraffic = max(inboundLastUsed ?? -.infinity, outboundLastUsed ?? -.infinity)
                if lastTraffic.isFinite && now - lastTraffic < configuration.keepaliveNoneAfter {
                    // Keepalives are only sent on idle SAs: none seen while traffic flows says nothing.
                    status.state = .unknown
                    status.reason = "no keepalive seen, but traffic \(secs(now - lastTraffic)) ago "
                        + "(keepalives are only sent when idle)"
                } else if watched >= configuration.keepaliveNoneAfter {
                    status.state = .none
                    status.reason = "no keepalive seen in \(secs(watched)) of capture and no kernel interval"
                } else {
                    status.state = .unknown
                    status.reason = "capture running for \(secs(watched)): no keepalive seen yet"
                }
            }
            return status
        }

        let limit = configuration.keepaliveLateFactor * interval
        let source = status.intervalSource == .kernel ? "kernel" : "observed"
        let intervalText = "interval \(secs(interval)), \(source)"
        var late: [String] = []
        var fine: [String] = []
        if kernelInterval != nil || track?.lastSent != nil {
            let lastOut = max(track?.lastSent ?? -.infinity, outboundLastUsed ?? -.infinity)
            let since = lastOut.isFinite ? now - lastOut : now - (captureSince ?? now)
            if since > limit {
                late.append("nothing sent to \(remote) for \(secs(since))")
            } else if lastOut.isFinite {
                fine.append((track?.lastSent == lastOut ? "keepalive sent " : "traffic sent ") + "\(secs(since)) ago")
            }
        }
        if let lastKA = track?.lastReceived {
            let lastIn = max(lastKA, inboundLastUsed ?? -.infinity)
            let since = now - lastIn
            if since > limit {
                late.append("nothing received from \(remote) for \(secs(since))")
            } else {
                fine.append((lastKA == lastIn ? "keepalive received " : "traffic received ") + "\(secs(since)) ago")
            }
        }
        if !late.isEmpty {
            status.state = .late
            status.reason = late.joined(separator: "; ") + " (> \(configuration.keepaliveLateFactor)x \(intervalText))"
        } else if fine.isEmpty {
            status.state = .unknown
            status.reason = "\(intervalText); no keepalive seen yet"
        } else {
            status.state = .ok
            status.reason = fine.joined(separator: ", ") + " (\(intervalText))"
        }
        return status
    }

    /// "5 s", "1.5 s".
    static func secs(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? "\(Int(r)) s" : "\(r) s"
    }
}

func secs(_ v: Double) -> String { LiveModel.secs(v) }
