/**
 * The randomized differential run (test/helpers/differential.ts) on the
 * usual memcached fixture.
 */
import anyTest, { type TestFn } from 'ava';
import { type CachedBlog, useCachedBlog } from '../helpers/cached-blog';
import { differentialRun, OPS } from '../helpers/differential';

const test = anyTest as TestFn<CachedBlog>;

useCachedBlog(test, 'differential', { authors: 8, articles: 80, commentsPerArticle: 2, tags: 6 });

test.serial(`${OPS} random reads and writes: every cached read equals the uncached read`, (t) => differentialRun(t));
