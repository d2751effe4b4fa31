/* Decode one rectangle of a JPEG held in memory, as RGB, with libjpeg(-turbo).
 *
 * Part of mae-bench (mae_bench/data/jpegregion.py compiles and loads it with ctypes). The rows above the rectangle
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

/* Decode rows [y0, y1) and columns [x0, x1) of the image scaled by 1/denom (1, 2, 4 or 8) as RGB into out (cap
 * bytes). The columns may widen: geom receives the left column and the width actually written (rows are packed,
 * width * 3 bytes each), then the image's scaled width and height. Returns 0, or -1 with message set. */
int mae_jpeg_decode_region(const unsigned char *data, unsigned long size, int denom, int x0, int y0, int x1,
                           int y1, unsigned char *out, unsigned long cap, int *geom, char *message) {
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
  cinfo.scale_num = 1;
  cinfo.scale_denom = denom;
  jpeg_start_decompress(&cinfo);
  if (x1 > (int)cinfo.output_width) x1 = cinfo.output_width;
  if (y1 > (int)cinfo.output_height) y1 = cinfo.output_height;
  if (x0 < 0 || y0 < 0 || x1 <= x0 || y1 <= y0) {
    snprintf(message, MSG_LEN, "region [%d, %d) x [%d, %d) outside the %ux%u image", x0, x1, y0, y1,
             cinfo.output_width, cinfo.output_height);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  JDIMENSION full_width = cinfo.output_width, full_height = cinfo.output_height;
  JDIMENSION left = x0, width = x1 - x0;
  if (left > 0 || width < cinfo.output_width) jpeg_crop_scanline(&cinfo, &left, &width);
  unsigned long stride = (unsigned long)width * 3;
  if (stride * (unsigned long)(y1 - y0) > cap) {
    snprintf(message, MSG_LEN, "region of %lu bytes exceeds the buffer of %lu", stride * (y1 - y0), cap);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, y0);
  while ((int)cinfo.output_scanline < y1) {
    JSAMPROW row = out + (unsigned long)(cinfo.output_scanline - y0) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  geom[0] = left;
  geom[1] = width;
  geom[2] = full_width; /* jpeg_crop_scanline set output_width to the region's */
  geom[3] = full_height;
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}
