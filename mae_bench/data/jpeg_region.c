/* Decode one rectangle of a JPEG held in memory, as RGB, with libjpeg(-turbo).
 *
 * Part of mae-bench: built with the package (setup.py's build_ext, as mae_bench/data/jpeg_region*.so) and loaded by
 * mae_bench/data/jpeg_region.py with ctypes; it is not a Python extension module. The rows above the rectangle
 * are skipped (jpeg_skip_scanlines: entropy-decoded, but no IDCT, upsampling or colour conversion), the columns
 * outside it are not reconstructed (jpeg_crop_scanline, which widens the columns to whole iMCUs), and decoding stops
 * after its last row. libjpeg-turbo 1.5.1 or newer provides both calls.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define MSG_LEN 200

/* The libjpeg this file was compiled against, e.g. "libjpeg-turbo 2.1.5 (libjpeg API 62)": the decoder's state in
 * the pretraining log and tools/bench_data.py. */
#define STR_(x) #x
#define STR(x) STR_(x)
const char *mae_jpeg_lib_version(void) {
#ifdef LIBJPEG_TURBO_VERSION
  return "libjpeg-turbo " STR(LIBJPEG_TURBO_VERSION) " (libjpeg API " STR(JPEG_LIB_VERSION) ")";
#else
  return "libjpeg (not libjpeg-turbo; libjpeg API " STR(JPEG_LIB_VERSION) ")";
#endif
}

struct error_state {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char *message;
};

static void fail(j_common_ptr cinfo) {
  struct error_state *err = (struct error_state *)cinfo->err;
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  snprintf(err->message, MSG_LEN, "%s", text);
  longjmp(err->jump, 1);
}

/* Warnings about corrupt data are ignored, as PIL ignores them; running out of data is an error, as in PIL. */
static void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) fail(cinfo);
}

/* Decode the box (top, left, h, w) of the image as RGB into out, packed (h rows of w * 3 bytes). The rectangle
 * decoded is the box plus margin pixels on each side (clipped to the image): libjpeg upsamples chroma at the
 * rectangle's edges as at the image's, so the margin keeps the box's pixels equal to those of a whole-image decode.
 * Returns 0, or -1 with message set. */
int mae_jpeg_decode_box(const unsigned char *data, unsigned long size, int margin, int top, int left, int h, int w,
                        unsigned char *out, char *message) {
  struct jpeg_decompress_struct cinfo;
  struct error_state err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = fail;
  err.pub.emit_message = on_message;
  err.message = message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE &&
      cinfo.jpeg_color_space != JCS_RGB) {
    snprintf(message, MSG_LEN, "unsupported JPEG colour space %d (CMYK/YCCK go through PIL)",
             (int)cinfo.jpeg_color_space);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  int width = cinfo.output_width, height = cinfo.output_height;
  if (top < 0 || left < 0 || h <= 0 || w <= 0 || top + h > height || left + w > width) {
    snprintf(message, MSG_LEN, "box (top %d, left %d, %dx%d) outside the %dx%d image", top, left, h, w, width,
             height);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  int y0 = top > margin ? top - margin : 0, x0 = left > margin ? left - margin : 0;
  int x1 = left + w + margin < width ? left + w + margin : width;
  JDIMENSION region_left = x0, region_width = x1 - x0;
  if (region_left > 0 || (int)region_width < width) jpeg_crop_scanline(&cinfo, &region_left, &region_width);
  JSAMPARRAY row = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, region_width * 3, 1);
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, y0);
  unsigned long box_stride = (unsigned long)w * 3, offset = (unsigned long)(left - (int)region_left) * 3;
  while ((int)cinfo.output_scanline < top + h) {
    int y = cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, row, 1);
    if (y >= top) memcpy(out + (unsigned long)(y - top) * box_stride, row[0] + offset, box_stride);
  }
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
