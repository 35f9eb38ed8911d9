use skein_actors::*;
fn tryit(name: &str, body: &[u8]) {
    let mut b = vec![0xa7, 0x01];
    b.extend_from_slice(body);
    let r = Manifest::decode(&b, &Limits::default());
    match r {
        Ok(m) => { let e = m.encode().unwrap(); println!("{name}: OK identical={} {:02x?} -> {:02x?}", e == b, b, e) }
        Err(e) => println!("{name}: Err {e:?}"),
    }
}
#[test]
fn show() {
    let u = [0x11u8; 16];
    let mut uuid_bin = vec![0xc4, 0x10]; uuid_bin.extend_from_slice(&u);
    tryit("canonical empty", &[0x92, 0xc0, 0x90]);
    // map form
    let mut m = vec![0x82, 0xa5]; m.extend_from_slice(b"chain"); m.push(0xc0); m.push(0xa7); m.extend_from_slice(b"entries"); m.push(0x90);
    tryit("map form", &m);
    tryit("array16 outer", &[0xdc, 0x00, 0x02, 0xc0, 0x90]);
    tryit("array16 entries", &[0x92, 0xc0, 0xdc, 0x00, 0x00]);
    // chain uuid as str of 32 hex
    let mut s = vec![0x92, 0xd9, 32]; s.extend_from_slice(b"11111111111111111111111111111111"); s.push(0x90);
    tryit("uuid as str", &s);
    // uuid as array of 16 u8
    let mut a = vec![0x92, 0xdc, 0x00, 0x10]; a.extend_from_slice(&[0x11; 16]); a.push(0x90);
    tryit("uuid as array", &a);
    // uuid as bin16 vs bin8
    let mut b16 = vec![0x92, 0xc5, 0x00, 0x10]; b16.extend_from_slice(&u); b16.push(0x90);
    tryit("uuid as bin16", &b16);
    // entry with NoValue, variant as index
    let entry = |binding: &[u8], spent: &[u8]| { let mut e = vec![0x91, 0x94, 0x92, 0xa1, b'n', 0xa1, b'k']; e.extend_from_slice(binding); e.extend_from_slice(spent); e.push(0x90); let mut v = vec![0x92, 0xc0]; v.extend(e); v };
    tryit("NoValue by name", &entry(&[0xa7, b'N',b'o',b'V',b'a',b'l',b'u',b'e'], &[0x90]));
    tryit("NoValue by index", &entry(&[0x01], &[0x90]));
    tryit("Value by index map", &entry(&[0x81, 0x00, 0xc4, 0x01, 0x05], &[0x90]));
    tryit("Value blob as str", &entry(&[0x81, 0xa5, b'V',b'a',b'l',b'u',b'e', 0xa1, 0x05], &[0x90]));
    tryit("NoValue str8", &entry(&[0xd9, 7, b'N',b'o',b'V',b'a',b'l',b'u',b'e'], &[0x90]));
    // token with non-minimal seq
    let mut tok = vec![0x91, 0x92]; tok.extend_from_slice(&uuid_bin); tok.extend_from_slice(&[0xcf, 0,0,0,0,0,0,0,5]);
    tryit("seq u64 marker", &entry(&[0xa7, b'N',b'o',b'V',b'a',b'l',b'u',b'e'], &tok));
    let mut tok = vec![0x91, 0x92]; tok.extend_from_slice(&uuid_bin); tok.extend_from_slice(&[0x05]);
    tryit("seq fixint", &entry(&[0xa7, b'N',b'o',b'V',b'a',b'l',b'u',b'e'], &tok));
    // hostile
    tryit("array32 huge", &[0xdd, 0xff, 0xff, 0xff, 0xff]);
    tryit("entries array32 huge", &[0x92, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff]);
    tryit("chain bin32 huge", &[0x92, 0xc6, 0xff, 0xff, 0xff, 0xff]);
    tryit("outer array 3", &[0x93, 0xc0, 0x90, 0xc0]);
    let l: Result<LedgerId, _> = codec::decode_body(&uuid_bin); println!("{:?}", l);
}
