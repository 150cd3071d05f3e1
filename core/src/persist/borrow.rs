//! The campaign read with bincode's own decoder ([`decode_borrowed`](crate::codec::decode_borrowed)),
//! the device's hot path: every payload a device opens is a campaign.
//!
//! The bytes are the ones serde writes ([`encode`](crate::codec::encode)): a struct is its fields
//! in order, an enum a `u32` variant index then the variant's fields, a list a `u64` length
//! then its elements, integers as variable-length integers, text as a length and UTF-8.
//! Text is checked where it lies in the payload and copied once, into its [`Text`] or id.
//!
//! Types holding only fixed-size fields derive `bincode::BorrowDecode` beside their serde
//! derives. The ones below hold a list and are written out, so that every list goes
//! through [`list`]: bincode's own `Vec` reserves what a length prefix claims (up to the
//! codec's 16 MiB limit) before reading one element, where `list` reserves at most 64 KiB
//! and grows with the elements actually there. A body claiming a million settings in a few
//! bytes fails at the end of its bytes, having reserved at most 64 KiB beyond what it held.
//!
//! `tests` (below) and the `payload_roundtrip` and `campaign_decoders` fuzz targets hold
//! this decoder to serde's, byte for byte and refusal for refusal.
//!
//! [`Text`]: crate::setting::Text

use bincode::de::{BorrowDecode, BorrowDecoder, Decode};
use bincode::error::{AllowedEnumVariants, DecodeError};

use crate::campaign::{Campaign, TargetSet};
use crate::persist::v1::{CampaignV1, CareScheduleV1};
use crate::schedule::{CareSchedule, Condition};
use crate::setting::Value;

/// The most a list's length prefix makes [`list`] reserve before its elements are read.
const RESERVE_BYTES: usize = 64 * 1024;

/// A list: its `u64` length, then its elements, each read by `item` and collected as it
/// decodes.
fn list<'de, T, D>(
    d: &mut D,
    item: impl Fn(&mut D) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError>
where
    D: BorrowDecoder<'de>,
{
    let len = u64::decode(d)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
    let mut out = Vec::with_capacity(len.min(RESERVE_BYTES / size_of::<T>().max(1)));
    for _ in 0..len {
        out.push(item(d)?);
    }
    Ok(out)
}

/// Text, checked where it lies and copied once (bincode's own `String` reserves what its
/// length claims, zeroed, before reading it).
fn string<'de, D: BorrowDecoder<'de>>(d: &mut D) -> Result<String, DecodeError> {
    let s: &str = BorrowDecode::borrow_decode(d)?;
    Ok(s.to_owned())
}

/// An enum's variant index, refused unless `allowed` holds it.
fn variant<D: bincode::de::Decoder>(
    d: &mut D,
    type_name: &'static str,
    allowed: &'static AllowedEnumVariants,
) -> Result<u32, DecodeError> {
    let found = u32::decode(d)?;
    let known = match allowed {
        AllowedEnumVariants::Range { min, max } => (*min..=*max).contains(&found),
        AllowedEnumVariants::Allowed(list) => list.contains(&found),
        _ => false,
    };
    if known {
        Ok(found)
    } else {
        Err(DecodeError::UnexpectedVariant {
            type_name,
            allowed,
            found,
        })
    }
}

/// A campaign and its schema-1 form share their fields and their order (only their care
/// policies differ, and those derive).
macro_rules! campaign {
    ($t:ident, $schedule:ident) => {
        impl<'de, C> BorrowDecode<'de, C> for $t {
            fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(
                d: &mut D,
            ) -> Result<Self, DecodeError> {
                Ok($t {
                    id: BorrowDecode::borrow_decode(d)?,
                    revision: Decode::decode(d)?,
                    issued_at: BorrowDecode::borrow_decode(d)?,
                    salt: Decode::decode(d)?,
                    targets: BorrowDecode::borrow_decode(d)?,
                    settings: list(d, BorrowDecode::borrow_decode)?,
                    schedule: BorrowDecode::borrow_decode(d)?,
                })
            }
        }

        impl<'de, C> BorrowDecode<'de, C> for $schedule {
            fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(
                d: &mut D,
            ) -> Result<Self, DecodeError> {
                Ok($schedule {
                    evaluate_after: BorrowDecode::borrow_decode(d)?,
                    conditions: list(d, BorrowDecode::borrow_decode)?,
                    report: BorrowDecode::borrow_decode(d)?,
                    sample_success_ppm: Decode::decode(d)?,
                    care: BorrowDecode::borrow_decode(d)?,
                    abort: BorrowDecode::borrow_decode(d)?,
                })
            }
        }
    };
}

campaign!(Campaign, CareSchedule);
campaign!(CampaignV1, CareScheduleV1);

impl<'de, C> BorrowDecode<'de, C> for TargetSet {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 2 };
        Ok(match variant(d, "TargetSet", &ALLOWED)? {
            0 => TargetSet::All,
            1 => TargetSet::Groups(list(d, string)?),
            _ => TargetSet::Devices(list(d, BorrowDecode::borrow_decode)?),
        })
    }
}

impl<'de, C> BorrowDecode<'de, C> for Condition {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 5 };
        Ok(match variant(d, "Condition", &ALLOWED)? {
            0 => Condition::AnyFailed,
            1 => Condition::SettingFailed {
                uri_prefix: string(d)?,
            },
            2 => Condition::StatusIn {
                codes: list(d, Decode::decode)?,
            },
            3 => Condition::VerifyMismatch { uri: string(d)? },
            4 => Condition::PayloadIncomplete,
            _ => Condition::NotAppliedWithin {
                within: BorrowDecode::borrow_decode(d)?,
            },
        })
    }
}

impl<'de, C> BorrowDecode<'de, C> for Value {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        const ALLOWED: AllowedEnumVariants = AllowedEnumVariants::Range { min: 0, max: 5 };
        Ok(match variant(d, "Value", &ALLOWED)? {
            0 => Value::Null,
            1 => Value::Str(BorrowDecode::borrow_decode(d)?),
            2 => Value::Int(Decode::decode(d)?),
            3 => Value::Bool(Decode::decode(d)?),
            4 => Value::Float(Decode::decode(d)?),
            _ => {
                let bytes: &[u8] = BorrowDecode::borrow_decode(d)?;
                Value::Bytes(bytes.to_vec())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::{CodecError, decode, decode_borrowed, encode};
    use crate::model::*;
    use crate::persist::v1::CampaignV1;
    use crate::schedule::{AbortPolicy, Condition};
    use crate::spec::fixtures::body_claiming_settings;

    fn both(body: &[u8]) -> (Result<Campaign, CodecError>, Result<Campaign, CodecError>) {
        (decode(body), decode_borrowed(body))
    }

    fn every_kind() -> Campaign {
        let mut c = crate::spec::fixtures::campaign();
        c.settings = vec![
            Setting::replace("./A/Null", Value::Null),
            Setting::replace(
                "./A/Str",
                Value::Str("text, longer than twenty-four bytes".into()),
            ),
            Setting::replace("./A/Int", Value::Int(-42)),
            Setting::replace("./A/Bool", Value::Bool(true)),
            Setting::replace("./A/Float", Value::Float(-0.25)),
            Setting::replace("./A/Bytes", Value::Bytes(vec![0, 1, 254, 255])),
            Setting {
                op: SettingOp::Exec,
                uri: "./A/Exec".into(),
                value: Value::Null,
            },
        ];
        c.schedule.conditions = vec![
            Condition::AnyFailed,
            Condition::SettingFailed {
                uri_prefix: "./A".into(),
            },
            Condition::StatusIn {
                codes: vec![404, 500],
            },
            Condition::VerifyMismatch {
                uri: "./A/Str".into(),
            },
            Condition::PayloadIncomplete,
            Condition::NotAppliedWithin {
                within: Duration::from_mins(1),
            },
        ];
        c.schedule.abort = Some(AbortPolicy {
            failure_ratio: 0.25,
            min_reports: 9,
        });
        c
    }

    #[test]
    fn reads_every_variant_as_serde_wrote_it() {
        for targets in [
            TargetSet::All,
            TargetSet::groups(vec!["eu".into(), "beta".into()]),
            TargetSet::devices(vec![
                DeviceId::new("IMEI:1").unwrap(),
                DeviceId::new("IMEI:2").unwrap(),
            ]),
        ] {
            let mut c = every_kind();
            c.targets = targets;
            let body = encode(&c).unwrap();
            let (serde, native) = both(&body);
            assert_eq!(native.unwrap(), c);
            assert_eq!(serde.unwrap(), c);
            let v1 = CampaignV1::downcast(&c).unwrap();
            let body = encode(&v1).unwrap();
            assert_eq!(decode_borrowed::<CampaignV1>(&body).unwrap(), v1);
        }
    }

    #[test]
    fn refuses_what_serde_refuses_at_every_cut_and_flipped_byte() {
        let body = encode(&every_kind()).unwrap();
        for cut in 0..body.len() {
            let (serde, native) = both(&body[..cut]);
            assert!(serde.is_err() && native.is_err(), "cut at {cut}");
        }
        for at in 0..body.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = body.clone();
                b[at] ^= flip;
                let (serde, native) = both(&b);
                match (serde, native) {
                    // Compared encoded: a flipped float may be NaN, unequal to itself.
                    (Ok(s), Ok(n)) => assert_eq!(
                        encode(&s).unwrap(),
                        encode(&n).unwrap(),
                        "byte {at} ^ {flip:#x}"
                    ),
                    (Err(_), Err(_)) => {}
                    (s, n) => panic!("byte {at} ^ {flip:#x}: serde {s:?}, native {n:?}"),
                }
            }
        }
    }

    #[test]
    fn a_list_is_read_where_its_fields_are() {
        let mut c = every_kind();
        c.settings.clear();
        let body = body_claiming_settings(&c, 0);
        assert_eq!(decode_borrowed::<Campaign>(&body).unwrap(), c);
    }

    #[test]
    fn a_claimed_length_beyond_the_bytes_is_refused() {
        let c = every_kind();
        for count in [1, 1_000, 200_000, 1 << 40, u64::MAX] {
            let (serde, native) = both(&body_claiming_settings(&c, count));
            assert!(serde.is_err() && native.is_err(), "{count}");
        }
    }

    #[test]
    fn an_id_breaking_the_id_rules_is_refused_by_both_decoders() {
        let mut c = every_kind();
        c.targets = TargetSet::devices(vec![DeviceId::new("IMEI:1").unwrap()]);
        let body = encode(&c).unwrap();
        // The campaign id comes first: its length, then "apn-2026-11".
        let mut spaced = body.clone();
        assert_eq!(&spaced[1..4], b"apn");
        spaced[4] = b' ';
        // A target's device id, with an escape character in it.
        let mut escaped = body.clone();
        let at = body.windows(6).position(|w| w == b"IMEI:1").unwrap();
        escaped[at + 4] = 0x1b;
        for (b, rule) in [(spaced, "campaign id"), (escaped, "device id")] {
            let (serde, native) = both(&b);
            assert!(serde.is_err(), "{rule}");
            let err = native.unwrap_err().to_string();
            assert!(err.contains(rule), "{err}");
        }
    }

    #[test]
    fn an_unknown_variant_names_its_type() {
        let mut c = every_kind();
        c.settings.truncate(1);
        c.settings[0].value = Value::Null;
        let body = encode(&c).unwrap();
        let null_at = body.len() - encode(&c.schedule).unwrap().len() - 1;
        let mut b = body.clone();
        b[null_at] = 9;
        let err = decode_borrowed::<Campaign>(&b).unwrap_err();
        assert!(err.to_string().contains("Value"), "{err}");
    }
}
