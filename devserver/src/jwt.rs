//! HS256 JSON Web Tokens, signed with the environment's secret key, the way the
//! Trigger.dev API signs public access tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

pub const ISSUER: &str = "https://id.trigger.dev";
pub const AUDIENCE: &str = "https://api.trigger.dev";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any size"),
    }
}

/// Signs `claims` (an object) as a compact HS256 JWT.
pub fn sign(secret: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    BadAlgorithm,
    BadSignature,
    BadIssuer,
    BadAudience,
    Expired,
    NotYetValid,
}

impl JwtError {
    pub fn message(&self) -> &'static str {
        match self {
            JwtError::Malformed => "Invalid Public Access Token: malformed JWT",
            JwtError::BadAlgorithm => "Invalid Public Access Token: unsupported algorithm",
            JwtError::BadSignature => "Invalid Public Access Token: signature verification failed",
            JwtError::BadIssuer => "Invalid Public Access Token: unexpected issuer",
            JwtError::BadAudience => "Invalid Public Access Token: unexpected audience",
            JwtError::Expired => "Public Access Token has expired",
            JwtError::NotYetValid => "Public Access Token is not yet valid",
        }
    }
}

/// Verifies signature, algorithm, issuer, audience and time claims; returns the payload.
pub fn verify(secret: &str, token: &str, now_secs: u64) -> Result<Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::BadAlgorithm);
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
    let payload: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    let Value::Object(claims) = payload else {
        return Err(JwtError::Malformed);
    };
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return Err(JwtError::BadIssuer);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(AUDIENCE)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::BadAudience);
    }
    match claims.get("exp") {
        None => {}
        Some(v) => match v.as_f64() {
            Some(exp) if (now_secs as f64) < exp => {}
            Some(_) => return Err(JwtError::Expired),
            None => return Err(JwtError::Malformed),
        },
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        if (now_secs as f64) + 5.0 < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    Ok(claims)
}

/// Builds the standard claims for a token issued by this server.
pub fn claims(scopes: &[String], ttl_secs: u64, generation: u64, now_secs: u64) -> Value {
    json!({
        "sub": crate::ENV_ID,
        "pub": true,
        "gen": generation,
        "scopes": scopes,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now_secs,
        "exp": now_secs.saturating_add(ttl_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let t = sign("k", &claims(&["read:sessions:a".into()], 60, 0, 1000));
        let c = verify("k", &t, 1001).expect("valid");
        assert_eq!(c["scopes"][0], "read:sessions:a");
        assert_eq!(verify("other", &t, 1001), Err(JwtError::BadSignature));
        assert_eq!(verify("k", &t, 2000), Err(JwtError::Expired));
        assert_eq!(verify("k", "abc", 1001), Err(JwtError::Malformed));
        let mut bad = t.clone();
        bad.push('x');
        assert!(verify("k", &bad, 1001).is_err());
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let t = sign("k", &json!({"iss": "x", "aud": AUDIENCE}));
        assert_eq!(verify("k", &t, 0), Err(JwtError::BadIssuer));
        let t = sign("k", &json!({"iss": ISSUER, "aud": "y"}));
        assert_eq!(verify("k", &t, 0), Err(JwtError::BadAudience));
        let t = sign("k", &json!({"iss": ISSUER, "aud": [AUDIENCE]}));
        assert!(verify("k", &t, 0).is_ok());
    }
}
