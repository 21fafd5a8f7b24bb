//! The demo's snapshot pictures: one small PNG per snapshot with its offset
//! drawn large and its task's number small, on a colour per task, so that a
//! newcomer sees in the console which snapshot is which.
//!
//! Drawn with a 3x5 bitmap font and written as an uncompressed PNG (stored
//! deflate blocks), which needs no image or compression crate; a picture is
//! about 28 KB.

/// Width and height of a picture, in pixels (16:9).
pub const WIDTH: usize = 128;
pub const HEIGHT: usize = 72;

/// Background per task (1-based, cycling), darkish so white text reads.
const BACKGROUNDS: [[u8; 3]; 3] = [[0x1f, 0x4e, 0x79], [0x2e, 0x6b, 0x3a], [0x7a, 0x3b, 0x1e]];
const INK: [u8; 3] = [0xff, 0xff, 0xff];

/// A PNG of `offset` (large, centred, with an `s`) for task `task`
/// (`T1`, small, top left).
pub fn snapshot_png(task: u32, offset: i64) -> Vec<u8> {
    let background = BACKGROUNDS[(task.saturating_sub(1) as usize) % BACKGROUNDS.len()];
    let mut pixels = vec![background; WIDTH * HEIGHT];
    let big = format!("{offset}s");
    let scale = 6;
    let width = text_width(&big, scale);
    let x = WIDTH.saturating_sub(width) / 2;
    let y = (HEIGHT - 5 * scale) / 2 + 4;
    draw(&mut pixels, &big, x, y, scale);
    draw(&mut pixels, &format!("T{task}"), 4, 4, 2);
    png(&pixels)
}

/// The 3x5 glyphs, one row per byte (the low three bits, leftmost high).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        's' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        _ => [0; 5],
    }
}

fn text_width(text: &str, scale: usize) -> usize {
    let n = text.chars().count();
    (n * 4).saturating_sub(1) * scale
}

fn draw(pixels: &mut [[u8; 3]], text: &str, x: usize, y: usize, scale: usize) {
    for (i, c) in text.chars().enumerate() {
        let left = x + i * 4 * scale;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + col * scale + dx, y + row * scale + dy);
                        if px < WIDTH && py < HEIGHT {
                            pixels[py * WIDTH + px] = INK;
                        }
                    }
                }
            }
        }
    }
}

/// An 8-bit RGB PNG of `pixels` (row by row, `WIDTH` x `HEIGHT`).
fn png(pixels: &[[u8; 3]]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(HEIGHT * (1 + WIDTH * 3));
    for row in pixels.chunks(WIDTH) {
        raw.push(0); // filter: none
        raw.extend(row.iter().flatten());
    }
    let mut out = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    let mut header = Vec::with_capacity(13);
    header.extend(u32::try_from(WIDTH).unwrap_or(0).to_be_bytes());
    header.extend(u32::try_from(HEIGHT).unwrap_or(0).to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter set, no interlace
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend(u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A zlib stream of `data` in stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len())); // BFINAL, BTYPE 00
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*block);
    }
    out.extend(adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1_u32, 0_u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_adler_match_their_reference_values() {
        // The check values of both algorithms' specifications.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn a_picture_is_a_png_of_the_stated_size() {
        let png = snapshot_png(1, 30);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..20], &128_u32.to_be_bytes());
        assert_eq!(&png[20..24], &72_u32.to_be_bytes());
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
        assert_eq!(
            vodsnap_domain::ImageFormat::of("x.png", &png),
            vodsnap_domain::ImageFormat::Png
        );
    }

    #[test]
    fn each_offset_and_task_draws_a_different_picture() {
        let pictures = [snapshot_png(1, 0), snapshot_png(1, 10), snapshot_png(2, 10)];
        assert_ne!(pictures[0], pictures[1]);
        assert_ne!(pictures[1], pictures[2]);
    }
}
