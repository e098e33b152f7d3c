/**
 * The demo's Express blog API over the fixture models: what an app using the
 * cache looks like. Nothing here knows about caching except the three lines
 * that mount the cache's middleware; every read below is cached
 * transparently once `ormCache.install()` has run.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { BlogModels } from '../fixtures/blog';
import type { OrmCache } from '../source';

/** A positive integer from a path or query parameter, or undefined. */
function positive(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  return n > 0 ? n : undefined;
}

/** The article a route's `:id` names, or undefined after answering 404. */
async function articleOr404(models: BlogModels, req: Request, res: Response) {
  const id = positive(req.params.id);
  const article = id ? await models.Article.findByPk(id) : null;
  if (!article) res.status(404).json({ error: 'no such article' });
  return article ?? undefined;
}

/**
 * Build the API; with `cache`, also Server-Timing, `/metrics` and the
 * dashboard at `/cache/` (polling every `dashboardPollMs`).
 */
export function blogApi(models: BlogModels, cache?: OrmCache, options: { dashboardPollMs?: number } = {}): express.Express {
  const { Article, Author, Comment } = models;
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json());
  if (cache) {
    app.use(cache.serverTiming());
    app.get('/metrics', cache.metricsMiddleware());
    app.use('/cache', cache.dashboard({ pollMs: options.dashboardPollMs }));
  }

  // Latest articles, optionally of one author, with their author and comments.
  app.get('/articles', async (req: Request, res: Response) => {
    const author = positive(req.query.author);
    const limit = Math.min(positive(req.query.limit) ?? 10, 50);
    const articles = await Article.findAll({
      where: author ? { authorId: author } : {},
      include: [
        { model: Author, attributes: ['id', 'name'] },
        { model: Comment, attributes: ['id', 'authorId', 'body'] },
      ],
      order: [['id', 'DESC']],
      limit,
    });
    res.json(articles);
  });

  // One article, its author and its comments: a row read, a row read, a list.
  app.get('/articles/:id', async (req: Request, res: Response) => {
    const article = await articleOr404(models, req, res);
    if (!article) return;
    const [author, comments] = await Promise.all([
      Author.findByPk(article.authorId),
      Comment.findAll({ where: { articleId: article.id }, order: [['id', 'ASC']] }),
    ]);
    res.json({ ...article.toJSON(), author, comments });
  });

  // An author with the number of articles they wrote: a row read and a count.
  app.get('/authors/:id', async (req: Request, res: Response) => {
    const id = positive(req.params.id);
    const author = id ? await Author.findByPk(id) : null;
    if (!author) {
      res.status(404).json({ error: 'no such author' });
      return;
    }
    res.json({ ...author.toJSON(), articles: await Article.count({ where: { authorId: author.id } }) });
  });

  app.post('/articles', async (req: Request, res: Response) => {
    const { title, body, authorId } = (req.body ?? {}) as { title?: unknown; body?: unknown; authorId?: unknown };
    if (typeof title !== 'string' || title.length === 0 || typeof authorId !== 'number') {
      res.status(400).json({ error: 'title (string) and authorId (number) are required' });
      return;
    }
    const article = await Article.create({ title, body: typeof body === 'string' ? body : null, authorId });
    res.status(201).json(article);
  });

  app.patch('/articles/:id', async (req: Request, res: Response) => {
    const article = await articleOr404(models, req, res);
    if (!article) return;
    const { title, body, published } = (req.body ?? {}) as { title?: unknown; body?: unknown; published?: unknown };
    await article.update({
      ...(typeof title === 'string' ? { title } : {}),
      ...(typeof body === 'string' ? { body } : {}),
      ...(typeof published === 'boolean' ? { published } : {}),
    });
    res.json(article);
  });

  app.delete('/articles/:id', async (req: Request, res: Response) => {
    const article = await articleOr404(models, req, res);
    if (!article) return;
    await article.destroy();
    res.status(204).end();
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: error instanceof Error ? error.message : String(error) });
  });
  return app;
}
