import test from 'ava';
import { tablesRead, tablesWritten } from '../../source/sql-text';

const tables = ['articles', 'authors', 'tags', 'article_tags'];

const cases: [string, 'all' | string[]][] = [
  ['SELECT * FROM articles', []],
  ['  select id from `articles` where id = 1 for update', []],
  ['SHOW TABLES', []],
  ['START TRANSACTION', []],
  ["UPDATE articles SET title = 'x' WHERE id = 1", ['articles']],
  ['update `authors` set name = 1', ['authors']],
  ['INSERT INTO article_tags (article_id, tag_id) VALUES (1, 2)', ['article_tags']],
  ['DELETE a FROM articles a JOIN authors b ON a.author_id = b.id WHERE b.id = 3', ['articles', 'authors']],
  ['REPLACE INTO tags VALUES (1)', ['tags']],
  ['TRUNCATE TABLE tags', ['tags']],
  ['ALTER TABLE articles ADD COLUMN x INT', ['articles']],
  ["UPDATE other SET note = 'articles and authors'", []],
  ['UPDATE other SET note = 1 -- articles', []],
  ["UPDATE other SET note = 'it''s' /* tags */", []],
  ["UPDATE other SET note = 1 -- don't\n, x = (SELECT 1 FROM tags)", ['tags']],
  ['UPDATE mydb.articles SET views = views + 1', ['articles']],
  ['WITH x AS (SELECT 1) UPDATE articles SET views = 0', ['articles']],
  ['SELECT 1; DELETE FROM authors', ['authors']],
  ['CALL archive_everything()', 'all'],
];

for (const [sql, expected] of cases) {
  test(`raw statement: ${sql.replace(/\n/g, ' ')}`, (t) => {
    const written = tablesWritten(sql, tables);
    t.deepEqual(written === 'all' ? written : [...written].sort(), expected === 'all' ? expected : [...expected].sort());
  });
}

const reads: [string, string[] | undefined][] = [
  ["author_id IN (SELECT id FROM authors WHERE name LIKE 'a%')", ['authors']],
  ['(SELECT COUNT(*) FROM article_tags t WHERE t.article_id = Article.id)', ['article_tags']],
  ['(SELECT COUNT(*) FROM comments c WHERE c.article_id = Article.id)', undefined],
  ['title DESC', []],
  ["x IN (SELECT a FROM authors a, tags b WHERE a.note = 'from secret_table')", ['authors', 'tags']],
  ['id IN (SELECT id FROM mydb.`authors`)', ['authors']],
  ['id IN (SELECT x FROM authors JOIN secret_table ON 1)', undefined],
  ['id IN (SELECT 1 FROM information_schema.tables)', undefined],
  ['EXTRACT(YEAR FROM created_at) = 2026', undefined],
];

for (const [sql, expected] of reads) {
  test(`SQL text inside a read: ${sql}`, (t) => {
    const read = tablesRead(sql, tables);
    t.deepEqual(read === undefined ? read : [...read].sort(), expected);
  });
}
