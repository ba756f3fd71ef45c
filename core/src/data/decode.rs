//! Decoding image files of any format the `image` crate reads, resized to the model's input.

use image::imageops::FilterType;

/// Most bytes one decoded image may take (the `image` crate's default): a decompression bomb (a
/// small file declaring a huge image) is refused before its pixels are allocated.
pub const MAX_DECODED_BYTES: u64 = 512 << 20;

/// Decodes `bytes` (PNG, JPEG, GIF, BMP, WebP, TIFF, ...) and returns `[size, size, 3]` RGB bytes.
///
/// Images of another size are resized with a triangle (bilinear) filter; very large images are
/// first reduced with a fast nearest-neighbour thumbnail so the browser never stalls on them.
/// Non-square images are squashed, as CIFAR-trained models see whole scenes. Images whose
/// decoded pixels would exceed [`MAX_DECODED_BYTES`] are refused ("too large").
pub fn decode_rgb(bytes: &[u8], size: u32) -> crate::Result<Vec<u8>> {
    let img = decode_image(bytes)?;
    let img = if img.width() > 8 * size.max(64) || img.height() > 8 * size.max(64) {
        img.thumbnail(8 * size.max(64), 8 * size.max(64))
    } else {
        img
    };
    let rgb = img.to_rgb8();
    if rgb.width() == size && rgb.height() == size {
        return Ok(rgb.into_raw());
    }
    Ok(image::imageops::resize(&rgb, size, size, FilterType::Triangle).into_raw())
}

/// Decodes `bytes` of any format the `image` crate reads, refusing a truncated JPEG (its
/// decoder would fill the rest with grey) and images whose pixels would exceed
/// [`MAX_DECODED_BYTES`] ("too large", before they are allocated). Every image decoder of
/// hypersphere starts here.
pub fn decode_image(bytes: &[u8]) -> crate::Result<image::DynamicImage> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| crate::Error::Data(format!("not a readable image: {e}")))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The decoder would fill the missing part with grey and report success.
        return Err(crate::Error::Data("not a readable image: truncated JPEG (no end-of-image marker after its last scan)".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => crate::Error::Data(format!(
            "image too large to decode ({l}; at most {} MiB of pixels)",
            MAX_DECODED_BYTES >> 20
        )),
        e => crate::Error::Data(format!("not a readable image: {e}")),
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(crate::Error::Data(format!("not a readable image: {}x{} pixels", img.width(), img.height())));
    }
    Ok(img)
}

/// Whether a JPEG stream has an end-of-image marker (FF D9) after its last start-of-scan
/// (FF DA): a file cut short has not. (Inside scans FF is always stuffed with 00, so the pair
/// is a marker; an EXIF thumbnail's own markers come before the main image's scans.)
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else { return false };
    bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Encodes `[height, width, 3]` RGB bytes as PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> crate::Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::write_buffer_with_format(
        &mut out,
        rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| crate::Error::Data(format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_keeps_pixels() {
        let rgb: Vec<u8> = (0..32 * 32 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let png = encode_png(&rgb, 32, 32).unwrap();
        assert_eq!(decode_rgb(&png, 32).unwrap(), rgb);
    }

    #[test]
    fn large_images_are_resized_to_the_input_size() {
        let rgb = vec![200u8; 300 * 500 * 3];
        let png = encode_png(&rgb, 500, 300).unwrap();
        let out = decode_rgb(&png, 32).unwrap();
        assert_eq!(out.len(), 32 * 32 * 3);
        assert!(out.iter().all(|&v| v == 200));
    }

    #[test]
    fn truncated_jpegs_and_bombs_are_refused() {
        let rgb: Vec<u8> = (0..40 * 40 * 3).map(|i| (i * 13 % 256) as u8).collect();
        let mut jpeg = std::io::Cursor::new(Vec::new());
        image::write_buffer_with_format(&mut jpeg, &rgb, 40, 40, image::ExtendedColorType::Rgb8, image::ImageFormat::Jpeg).unwrap();
        let jpeg = jpeg.into_inner();
        assert_eq!(decode_rgb(&jpeg, 32).unwrap().len(), 32 * 32 * 3);
        let err = decode_rgb(&jpeg[..jpeg.len() * 2 / 3], 32).unwrap_err();
        assert!(err.to_string().contains("truncated JPEG"), "{err}");
        // A PNG whose header declares 100000 x 100000 RGB pixels (30 GB), with no data.
        let mut png = encode_png(&[0; 3], 1, 1).unwrap();
        png[16..24].copy_from_slice(&[0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0]);
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_rgb(&png, 32).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    /// CRC-32 (IEEE) of a PNG chunk's type and data (flate2's, the gzip CRC).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        crc.sum()
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = decode_rgb(b"this is not an image", 32).unwrap_err();
        assert!(err.to_string().contains("not a readable image"), "{err}");
    }
}
