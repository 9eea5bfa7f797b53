// Linux constants lib/ hands to the kernel through an op's rwFlags (RWF_*
// for reads and writes, fallocate(2)'s mode for allocate).

/** RWF_DSYNC from <linux/fs.h> (Linux 4.7): this write is durable when it completes. */
export const RWF_DSYNC = 0x2;

/** FALLOC_FL_KEEP_SIZE from <linux/falloc.h> (Linux 2.6.23): allocate without changing the file size. */
export const FALLOC_FL_KEEP_SIZE = 1;

/** FALLOC_FL_PUNCH_HOLE (Linux 2.6.38): free the range's blocks (with FALLOC_FL_KEEP_SIZE); it reads as zeros. */
export const FALLOC_FL_PUNCH_HOLE = 2;

/** FALLOC_FL_ZERO_RANGE (Linux 3.15): make the range read as zeros, keeping it allocated. */
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** RWF_ATOMIC (Linux 6.11; not in Debian 12's headers): the write is untorn, all old or all new after a crash. */
export const RWF_ATOMIC = 0x40;

/** RWF_DONTCACHE (Linux 6.14; not in Debian 12's headers): buffered I/O whose pages are dropped once done. */
export const RWF_DONTCACHE = 0x80;
