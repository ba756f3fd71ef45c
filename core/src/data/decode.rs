//! Decoding image files of any format the `image` crate reads, resized to the model's input.

use image::imageops::FilterType;

/// Decodes `bytes` (PNG, JPEG, GIF, BMP, WebP, TIFF, ...) and returns `[size, size, 3]` RGB bytes.
///
/// Images of another size are resized with a triangle (bilinear) filter; very large images are
/// first reduced with a fast nearest-neighbour thumbnail so the browser never stalls on them.
/// Non-square images are squashed, as CIFAR-trained models see whole scenes.
pub fn decode_rgb(bytes: &[u8], size: u32) -> crate::Result<Vec<u8>> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| crate::Error::Data(format!("not a readable image: {e}")))?;
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
    fn garbage_is_an_error_not_a_panic() {
        let err = decode_rgb(b"this is not an image", 32).unwrap_err();
        assert!(err.to_string().contains("not a readable image"), "{err}");
    }
}
