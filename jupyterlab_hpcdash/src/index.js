/**
 * hpcdash JupyterLab extension: open HDF5 files from the file browser in hpcdash.
 *
 * A double-click on an HDF5 file (.h5, .hdf5, .he5, .nc, .nxs, .hdf) opens a tab holding an
 * iframe on the hpcdash app that jupyter-server-proxy serves at `{base_url}hpcdash/`
 * (see hpcdash/jupyter.py). The file is named in the explorer's URL query (`?file=<path>`),
 * relative to the Jupyter server root, which is also the root hpcdash serves.
 *
 * The file's bytes never travel to the browser: the document model is registered with a
 * null file format, so JupyterLab fetches only the file's metadata, never its content.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { PageConfig, PathExt, URLExt } from '@jupyterlab/coreutils';
import {
  ABCWidgetFactory,
  Base64ModelFactory,
  DocumentWidget
} from '@jupyterlab/docregistry';
import { ServerConnection } from '@jupyterlab/services';
import { IFrame, LabIcon, launchIcon, refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';

import hpcdashSvg from '../../assets/hpcdash.svg';

/** Name of the widget factory (shown in "Open With"). */
export const FACTORY = 'hpcdash';
/** Name of the file type registered for HDF5 files. */
export const FILE_TYPE = 'hpcdash-hdf5';
/** File name extensions opened in hpcdash by default. */
export const EXTENSIONS = ['.h5', '.hdf5', '.he5', '.nc', '.nxs', '.hdf'];
/** Model factory that loads no file content (HDF5 files can be many gigabytes). */
const MODEL = 'hpcdash-no-content';
/** Where jupyter-server-proxy serves hpcdash, relative to the Jupyter base URL. */
const APP_PATH = 'hpcdash/';

export const hpcdashIcon = new LabIcon({ name: 'hpcdash:logo', svgstr: hpcdashSvg });

/**
 * The hpcdash URL that shows `path` (relative to the Jupyter server root).
 *
 * @param {string} path
 * @returns {string}
 */
export function explorerUrl(path) {
  const query = new URLSearchParams({ file: path });
  return URLExt.join(PageConfig.getBaseUrl(), APP_PATH) + '?' + query.toString();
}

let availability = null;

/**
 * Whether jupyter-server-proxy serves hpcdash in this Jupyter server (asked once per page).
 * Resolves to true when it cannot tell, so that the iframe shows whatever the server answers.
 *
 * @returns {Promise<boolean>}
 */
export function hpcdashAvailable() {
  if (availability === null) {
    const settings = ServerConnection.makeSettings();
    const url = URLExt.join(settings.baseUrl, 'server-proxy/servers-info');
    availability = ServerConnection.makeRequest(url, {}, settings)
      .then(response => (response.status === 404 ? { server_processes: [] } : response.json()))
      .then(info => (info.server_processes || []).some(server => server.name === 'hpcdash'))
      .catch(() => true);
  }
  return availability;
}

/** A text model factory whose documents are never read from or written to disk. */
class NoContentModelFactory extends Base64ModelFactory {
  get name() {
    return MODEL;
  }

  get fileFormat() {
    // null: the document context asks the contents API for metadata only (content=0)
    return null;
  }
}

/** A document widget showing one HDF5 file in hpcdash. */
class HpcdashDocument extends DocumentWidget {
  constructor(options) {
    super(options);
    this.addClass('jp-hpcdash-document');
    this.title.icon = hpcdashIcon;
    this.content.addClass('jp-hpcdash-frame');
    this._show(this.context.localPath);
    this.context.pathChanged.connect(() => this._show(this.context.localPath), this);
    this.toolbar.addItem('hpcdash-reload', new ToolbarButton({
      icon: refreshIcon,
      tooltip: 'Reload hpcdash',
      onClick: () => this._show(this.context.localPath)
    }));
    this.toolbar.addItem('hpcdash-open-tab', new ToolbarButton({
      icon: launchIcon,
      tooltip: 'Open this view in a new browser tab',
      onClick: () => {
        const url = this.currentUrl;
        if (url) {
          window.open(url, '_blank', 'noopener');
        }
      }
    }));
  }

  /** The iframe element. */
  get frame() {
    return this.content.node.querySelector('iframe');
  }

  /** The URL the iframe shows now (the explorer keeps its view in the query). */
  get currentUrl() {
    try {
      const href = this.frame.contentWindow.location.href;
      if (href && href !== 'about:blank') {
        return href;
      }
    } catch (err) {
      // not readable (navigated elsewhere): fall back to the URL we set
    }
    return this.content.url;
  }

  _show(path) {
    this.title.label = PathExt.basename(path);
    this.title.caption = `${path} in hpcdash`;
    void hpcdashAvailable().then(ok => {
      if (this.isDisposed) {
        return;
      }
      if (ok) {
        this.content.url = explorerUrl(path);
      } else {
        this._unavailable();
      }
    });
  }

  /** Say why nothing can be shown instead of an iframe on a 404 page. */
  _unavailable() {
    this.frame.hidden = true;
    if (this.content.node.querySelector('.jp-hpcdash-message')) {
      return;
    }
    const message = document.createElement('div');
    message.className = 'jp-hpcdash-message';
    const title = document.createElement('h3');
    title.textContent = 'hpcdash is not available in this Jupyter server';
    const text = document.createElement('p');
    text.textContent = 'hpcdash opens HDF5 files through jupyter-server-proxy, which this server does not ' +
      'run. Install it next to JupyterLab (pip install "hpcdash[jupyter]") and restart the server.';
    message.append(title, text);
    this.content.node.appendChild(message);
  }
}

/** Creates hpcdash tabs for HDF5 files. */
class HpcdashWidgetFactory extends ABCWidgetFactory {
  createNewWidget(context) {
    const content = new IFrame({
      // same-origin app served by this Jupyter server: it needs scripts, its websocket and downloads
      sandbox: ['allow-scripts', 'allow-same-origin', 'allow-downloads', 'allow-forms', 'allow-popups',
        'allow-modals'],
      referrerPolicy: 'same-origin'
    });
    return new HpcdashDocument({ context, content });
  }
}

/** @type {import('@jupyterlab/application').JupyterFrontEndPlugin<void>} */
const plugin = {
  id: 'hpcdash:plugin',
  description: 'Open HDF5 files from the file browser in the hpcdash slice explorer.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app, restorer) => {
    app.docRegistry.addModelFactory(new NoContentModelFactory());
    app.docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: 'HDF5 file',
      extensions: EXTENSIONS,
      mimeTypes: ['application/x-hdf5'],
      contentType: 'file',
      fileFormat: null,
      icon: hpcdashIcon
    });
    const factory = new HpcdashWidgetFactory({
      name: FACTORY,
      label: 'hpcdash',
      modelName: MODEL,
      fileTypes: [FILE_TYPE],
      defaultFor: [FILE_TYPE],
      readOnly: true
    });
    app.docRegistry.addWidgetFactory(factory);

    const tracker = new WidgetTracker({ namespace: 'hpcdash' });
    factory.widgetCreated.connect((sender, widget) => {
      widget.context.pathChanged.connect(() => void tracker.save(widget));
      void tracker.add(widget);
    });
    if (restorer) {
      void restorer.restore(tracker, {
        command: 'docmanager:open',
        args: widget => ({ path: widget.context.path, factory: FACTORY }),
        name: widget => widget.context.path
      });
    }
  }
};

export default plugin;
