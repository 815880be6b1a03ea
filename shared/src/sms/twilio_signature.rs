//! `X-Twilio-Signature` (README, "Twilio inbound"): HMAC-SHA1, keyed with the
//! account's auth token, over the exact URL Twilio called followed by every POST parameter as
//! `name + value`, sorted by name and then by value, exact duplicates once; Base64 (standard, padded).

use base64::Engine as _;
use hmac::{Hmac, Mac};

/// The signature Twilio sends for a form POST of `params` to `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Byte order of UTF-8 is code-point order: the same order Twilio's libraries sort in.
    pairs.sort_unstable();
    pairs.dedup();
    // HMAC takes a key of any length.
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `given` is the signature of `params` posted to `url`. Twilio is inconsistent about
/// default ports, so the URL is also tried with the port removed and with the default one added
/// (as Twilio's own libraries do). Compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    url_variants(url).iter().fold(false, |ok, candidate| {
        ok | constant_time_eq(sign(auth_token, candidate, params).as_bytes(), given.as_bytes())
    })
}

/// `url` as configured, without its port, and with the scheme's default port.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            variants.push(format!("{scheme}://{host}{tail}"));
        }
        _ => {
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "https" => "443",
                _ => "80",
            };
            variants.push(format!("{scheme}://{authority}:{default_port}{tail}"));
        }
    }
    variants
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn twilio_documentation_vector() {
        // Twilio's published example (auth token "12345").
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify("12345", url, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn repeated_keys_sorted_by_value_and_duplicates_once() {
        // Computed with Python's hmac over the URL + "BodyHi" + "From+15551234567"
        // + "MediaUrlhttps://a.example/1" + "MediaUrlhttps://b.example/2".
        let params = p(&[
            ("MediaUrl", "https://b.example/2"),
            ("Body", "Hi"),
            ("MediaUrl", "https://a.example/1"),
            ("From", "+15551234567"),
            ("MediaUrl", "https://a.example/1"),
        ]);
        let url = "https://example.com/twilio/inbound?clinic=7&lang=en";
        assert_eq!(sign("12345", url, &params), "IuQAOB69gfzdqflnYNV/1L4099Y=");
    }

    #[test]
    fn anything_changed_fails() {
        let params = p(&[("Body", "STOP"), ("From", "+14385550199")]);
        let url = "https://api.example.com/api/twilio/sms/webhook";
        let good = sign("token", url, &params);
        assert!(verify("token", url, &params, &good));
        assert!(!verify("other", url, &params, &good), "another token");
        assert!(
            !verify(
                "token",
                "https://api.example.com/api/twilio/sms/webhook?x=1",
                &params,
                &good
            ),
            "another URL"
        );
        assert!(
            !verify("token", "http://api.example.com/api/twilio/sms/webhook", &params, &good),
            "another scheme"
        );
        assert!(
            !verify("token", url, &p(&[("Body", "START"), ("From", "+14385550199")]), &good),
            "another body"
        );
        assert!(!verify("token", url, &params, ""), "no signature");
        assert!(!verify("token", url, &params, &good[..good.len() - 1]), "a prefix");
    }

    #[test]
    fn default_ports_either_way() {
        let params = p(&[("Body", "hi")]);
        let plain = "https://api.example.com/hook?a=1";
        let with_port = "https://api.example.com:443/hook?a=1";
        assert!(verify("t", plain, &params, &sign("t", with_port, &params)));
        assert!(verify("t", with_port, &params, &sign("t", plain, &params)));
        assert!(verify(
            "t",
            "http://h.example/x",
            &params,
            &sign("t", "http://h.example:80/x", &params)
        ));
        assert!(!verify(
            "t",
            plain,
            &params,
            &sign("t", "https://api.example.com:8443/hook?a=1", &params)
        ));
        assert_eq!(
            url_variants("http://127.0.0.1:8080/x"),
            ["http://127.0.0.1:8080/x", "http://127.0.0.1/x"]
        );
    }
}
