// Linux constants lib/ hands to the kernel through an op's rwFlags (RWF_*
// for reads and writes, fallocate(2)'s mode for allocate).

/** RWF_DSYNC from <linux/fs.h> (Linux 4.7): this write is durable when it completes. */
export const RWF_DSYNC = 0x2;

/** FALLOC_FL_KEEP_SIZE from <linux/falloc.h> (Linux 2.6.23): allocate without changing the file size. */
export const FALLOC_FL_KEEP_SIZE = 1;
